// Package shuffle counts words with a shuffle between workers (seed 001,
// the worker-to-worker API): each worker counts its ranges of the text,
// partitions its counts by a hash of the word and sends each partition to
// the worker that owns it with Peer.Receive while every worker is still
// inside its DoTask; each worker then returns only the words it owns, so
// the foreman merges disjoint partitions instead of summing every
// worker's whole vocabulary.
//
// The job is one task per worker, all at once (foreman.DoTasks): a team.
// The task names the team (its workers' ids, in order) and the job, so a
// worker finds its peers with Mesh.Peer and tells one job's partitions
// from another's.
package shuffle

import (
	"context"
	"errors"
	"fmt"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of shuffling word counters.
const Type = "shuffle"

// Keys of tasks and partitions.
const (
	KeyJob     = "job"     // string: the job's id
	KeyTeam    = "team"    // []string: the team's worker ids; a worker owns the words hashed to its index
	KeyIndex   = "index"   // int64: the task's worker's index in the team
	KeyPaths   = "paths"   // []string: the task's ranges' files
	KeyOffsets = "offsets" // []int64: their offsets
	KeyLengths = "lengths" // []int64: their lengths
	KeyFrom    = "from"    // int64: a partition's sender's index
)

// MaxTeam bounds a team, and maxJobs the jobs a worker holds partitions
// for at once.
const (
	MaxTeam = 1 << 10
	maxJobs = 64
)

// Owner returns the index of the worker of n that owns word (FNV-1a).
func Owner(word string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(word); i++ {
		h ^= uint32(word[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Worker is the shuffling word counter: NewWorker makes one.
type Worker struct {
	inbox *team.Mailbox[map[string]int64] // each job's counts of the words this worker owns
}

// NewWorker returns a shuffling word counter.
func NewWorker() workman.Worker { return &Worker{inbox: team.NewMailbox[map[string]int64](maxJobs)} }

// addTo adds words and counts to *m.
func addTo(m *map[string]int64, words []string, counts []int64) {
	if *m == nil {
		*m = make(map[string]int64, len(words))
	}
	for i, w := range words {
		(*m)[w] += counts[i]
	}
}

// Receive takes a peer's partition of a job's counts.
func (w *Worker) Receive(ctx context.Context, from workman.Peer, in *warehouse.Warehouse) error {
	id, ok1 := in.String(KeyJob)
	sender, ok2 := in.Int64(KeyFrom)
	words, ok3 := in.Strings(wordcount.KeyWords)
	counts, ok4 := in.Int64s(wordcount.KeyWordCounts)
	if !(ok1 && ok2 && ok3 && ok4) || len(words) != len(counts) || sender < 0 || sender >= MaxTeam {
		return errors.New("shuffle: a partition needs a job, its sender's index, and words with as many counts")
	}
	err := w.inbox.Put(id, int(sender), true, func(m *map[string]int64) error { addTo(m, words, counts); return nil })
	if err != nil {
		return fmt.Errorf("shuffle: %w", err)
	}
	return nil
}

// DoTask counts the task's ranges, sends each other worker its partition,
// waits for theirs, and returns the words this worker owns.
func (w *Worker) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	t, err := readTask(in)
	if err != nil {
		return nil, err
	}
	if err := w.inbox.Open(t.job, len(t.team), t.index); err != nil {
		return nil, fmt.Errorf("shuffle: %w", err)
	}
	defer w.inbox.Close(t.job)
	// Count.
	c := wordcount.NewCounter()
	for i := range t.paths {
		r := warehouse.New()
		r.SetString(splitter.KeyPath, t.paths[i])
		r.SetInt64(splitter.KeyOffset, t.offsets[i])
		r.SetInt64(splitter.KeyLength, t.lengths[i])
		f, err := splitter.OpenRange(ctx, r)
		if err != nil {
			return nil, err
		}
		err = c.Read(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("shuffle: %w", err)
		}
	}
	// Partition, keeping this worker's own.
	n := len(t.team)
	pw := make([][]string, n)
	pc := make([][]int64, n)
	words, counts := c.Words()
	for i, word := range words {
		o := Owner(word, n)
		pw[o] = append(pw[o], word)
		pc[o] = append(pc[o], counts[i])
	}
	own, ownCounts := pw[t.index], pc[t.index]
	// Send the others theirs, all at once.
	peers, err := team.Peers(ctx, t.team)
	if err != nil {
		return nil, fmt.Errorf("shuffle: %w", err)
	}
	err = team.Each(n, t.index, func(o int) error {
		p := warehouse.New()
		p.SetString(KeyJob, t.job)
		p.SetInt64(KeyFrom, int64(t.index))
		p.SetStrings(wordcount.KeyWords, pw[o])
		p.SetInt64s(wordcount.KeyWordCounts, pc[o])
		return peers[o].Receive(ctx, p)
	})
	if err != nil {
		return nil, fmt.Errorf("shuffle: send a partition: %w", err)
	}
	// Wait for the others' partitions to this one, and add its own.
	var ow []string
	var oc []int64
	err = w.inbox.Wait(ctx, t.job, func(m *map[string]int64) {
		addTo(m, own, ownCounts)
		ow, oc = make([]string, 0, len(*m)), make([]int64, 0, len(*m))
		for word, k := range *m {
			ow = append(ow, word)
			oc = append(oc, k)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("shuffle: %w", err)
	}
	out := warehouse.New()
	out.SetInt64(KeyIndex, int64(t.index))
	out.SetStrings(wordcount.KeyWords, ow)
	out.SetInt64s(wordcount.KeyWordCounts, oc)
	return out, nil
}

type task struct {
	job              string
	team             []string
	index            int
	paths            []string
	offsets, lengths []int64
}

func readTask(in *warehouse.Warehouse) (task, error) {
	var t task
	var ok [6]bool
	var index int64
	t.job, ok[0] = in.String(KeyJob)
	t.team, ok[1] = in.Strings(KeyTeam)
	index, ok[2] = in.Int64(KeyIndex)
	t.paths, ok[3] = in.Strings(KeyPaths)
	t.offsets, ok[4] = in.Int64s(KeyOffsets)
	t.lengths, ok[5] = in.Int64s(KeyLengths)
	if ok != [6]bool{true, true, true, true, true, true} || len(t.team) < 1 || len(t.team) > MaxTeam ||
		index < 0 || index >= int64(len(t.team)) || len(t.offsets) != len(t.paths) || len(t.lengths) != len(t.paths) {
		return task{}, errors.New("shuffle: a task needs a job, a team of 1 to 1024 workers, its index in it, and ranges")
	}
	t.index = int(index)
	return t, nil
}
