// Package splitter turns one job into task Warehouses.
//
// A Splitter emits tasks one at a time; emit blocks while every worker slot
// is busy, so a job of any number of tasks runs with memory bounded by what
// is in flight. Seq adapts any Go iterator. Ready-made splitters cover text
// files (newline-aligned byte ranges, read by the worker in place or
// shipped inside the Warehouse) and numeric ranges.
package splitter

import (
	"context"
	"fmt"
	"iter"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/warehouse"
)

// Splitter splits a job into tasks, calling emit once per task in order.
// It must return emit's error, if any, at once: the job is over.
type Splitter interface {
	Split(ctx context.Context, emit func(task *warehouse.Warehouse) error) error
}

// Func adapts a function to a Splitter.
type Func func(ctx context.Context, emit func(task *warehouse.Warehouse) error) error

// Split calls f.
func (f Func) Split(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
	return f(ctx, emit)
}

// Seq returns a Splitter that emits the tasks a Go iterator yields, one at
// a time as the job takes them: the iterator may be endless or lazy (a
// scan of a database table, a generator); it is stopped when the job ends.
func Seq(seq iter.Seq[*warehouse.Warehouse]) Splitter {
	return Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		var err error
		for t := range seq {
			if err = emit(t); err != nil {
				break
			}
		}
		return err
	})
}

// Values returns a Splitter that emits a task for each value seq yields,
// encoded with c (codec.Default if nil), as Seq does: the tasks of typed
// workers (workman.Func).
func Values[T any](c codec.Codec, seq iter.Seq[T]) Splitter {
	return Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		i := 0
		for v := range seq {
			t, err := codec.New(c, v)
			if err != nil {
				return fmt.Errorf("splitter: value %d: %w", i, err)
			}
			if err := emit(t); err != nil {
				return err
			}
			i++
		}
		return nil
	})
}

// Tasks returns a Splitter that emits the given tasks.
func Tasks(tasks ...*warehouse.Warehouse) Splitter {
	return WithSize(Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		for _, t := range tasks {
			if err := emit(t); err != nil {
				return err
			}
		}
		return nil
	}), len(tasks))
}

// Sized is a Splitter that knows how many tasks it will emit, so that a
// job's progress has a total (and an estimate of the time left) before it
// has split them all. Size may be an estimate, and 0 for unknown.
type Sized interface {
	Splitter
	Size() int
}

// WithSize returns s telling that it emits n tasks (see Sized).
func WithSize(s Splitter, n int) Splitter { return sized{s, func() int { return n }} }

type sized struct {
	Splitter
	size func() int
}

func (s sized) Size() int { return s.size() }
