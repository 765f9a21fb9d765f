package wordcount

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

// Keys of a word-count Work's input.
const (
	KeyPaths    = "paths"     // the files, absolute
	KeyPartSize = "part_size" // bytes of text per task (DefaultPartSize if absent)
	KeyShip     = "ship"      // ship the text in the tasks
)

// WorkInput is the input of a job-center Work that counts the words of
// the files (made absolute, as the contractor and the workers may run
// elsewhere on the same file system).
func WorkInput(paths []string, partSize int64, ship bool) (*warehouse.Warehouse, error) {
	abs := make([]string, len(paths))
	for i, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		abs[i] = a
	}
	in := warehouse.New()
	in.SetStrings(KeyPaths, abs)
	if partSize > 0 {
		in.SetInt64(KeyPartSize, partSize)
	}
	in.SetBool(KeyShip, ship)
	return in, nil
}

// Definition is the job center's word-count Work: a contractor claims up
// to workers workers of Type and counts the input's files (see WorkInput);
// the result holds the counts under KeyCounts.
func Definition(workers int) jobcenter.Definition {
	return jobcenter.Definition{Type: Type, Workers: workers,
		Job: func(ctx context.Context, in *warehouse.Warehouse) (splitter.Splitter, combiner.Combiner, error) {
			paths, _ := in.Strings(KeyPaths)
			if len(paths) == 0 {
				return nil, nil, errors.New("wordcount: the work names no files")
			}
			partSize, ok := in.Int64(KeyPartSize)
			if !ok || partSize < 1 {
				partSize = DefaultPartSize
			}
			ship, _ := in.Bool(KeyShip)
			return Splitter(paths, partSize, ship), Combiner(), nil
		}}
}
