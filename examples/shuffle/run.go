package shuffle

import (
	"context"
	"errors"
	"fmt"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/google/uuid"
)

// Count counts the words of the files with a shuffle on workers numbers
// of workers where o says, in ranges of about partSize bytes dealt out in
// turn. The workers read the files where they are (their data directory,
// or on an embedded park the files' common directory).
func Count(ctx context.Context, o team.Options, workers int, partSize int64, paths ...string) (map[string]int64, error) {
	if len(paths) == 0 {
		return nil, errors.New("shuffle: no files")
	}
	if workers > MaxTeam {
		return nil, fmt.Errorf("shuffle: %d workers: at most %d", workers, MaxTeam)
	}
	paths, err := o.Files(paths...)
	if err != nil {
		return nil, fmt.Errorf("shuffle: %w", err)
	}
	t, err := team.Open(ctx, o, team.Need{Type: Type, N: workers, Worker: NewWorker})
	if err != nil {
		return nil, fmt.Errorf("shuffle: %w", err)
	}
	defer t.Close()
	ws := t.Workers[Type]
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	// One task per worker: its index, the team and its share of the ranges.
	ins := make([]*warehouse.Warehouse, len(ws))
	job := uuid.NewString()
	for i := range ins {
		ins[i] = warehouse.New()
		ins[i].SetString(KeyJob, job)
		ins[i].SetStrings(KeyTeam, ids)
		ins[i].SetInt64(KeyIndex, int64(i))
		ins[i].SetStrings(KeyPaths, nil)
		ins[i].SetInt64s(KeyOffsets, nil)
		ins[i].SetInt64s(KeyLengths, nil)
	}
	n := 0
	err = splitter.TextFiles(paths, partSize).Split(ctx, func(r *warehouse.Warehouse) error {
		in := ins[n%len(ins)]
		n++
		path, _ := r.String(splitter.KeyPath)
		off, _ := r.Int64(splitter.KeyOffset)
		length, _ := r.Int64(splitter.KeyLength)
		ps, _ := in.Strings(KeyPaths)
		os, _ := in.Int64s(KeyOffsets)
		ls, _ := in.Int64s(KeyLengths)
		in.SetStrings(KeyPaths, append(ps, path))
		in.SetInt64s(KeyOffsets, append(os, off))
		in.SetInt64s(KeyLengths, append(ls, length))
		return nil
	})
	if err != nil {
		return nil, err
	}
	outs, err := t.Foreman.DoTasks(ctx, ws, ins)
	if err != nil {
		return nil, err
	}
	return Merge(outs, len(ws))
}

// Merge puts the workers' partitions together, checking that each word
// comes from the worker that owns it: the partitions are disjoint.
func Merge(outs []*warehouse.Warehouse, n int) (map[string]int64, error) {
	total := make(map[string]int64)
	for i, out := range outs {
		words, ok1 := out.Strings(wordcount.KeyWords)
		counts, ok2 := out.Int64s(wordcount.KeyWordCounts)
		if !ok1 || !ok2 || len(words) != len(counts) {
			return nil, fmt.Errorf("shuffle: worker %d's result has no words with as many counts", i)
		}
		for k, w := range words {
			if o := Owner(w, n); o != i {
				return nil, fmt.Errorf("shuffle: worker %d returned %q, which worker %d owns", i, w, o)
			}
			if _, dup := total[w]; dup {
				return nil, fmt.Errorf("shuffle: worker %d returned %q twice", i, w)
			}
			total[w] = counts[k]
		}
	}
	return total, nil
}
