package foreman

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

// StopJob, returned by Map's fold, ends the job early and successfully:
// running tasks are cancelled and Map returns nil.
var StopJob = errors.New("foreman: stop the job")

// WithCodec makes Map and Collect encode tasks with c instead of
// codec.Default; the workers answer in the codec the task came in.
func WithCodec(c codec.Codec) RunOption { return func(cfg *runConfig) { cfg.codec = c } }

// Map runs a task for each value of in on the workers ws, a job like Run's
// with every RunOption, and calls fold with each result as it arrives,
// with i the position of its input in in. The workers run typed tasks (see
// workman.Func). fold runs on Map's own goroutine, one result at a time;
// an error from it ends the job and is returned, except StopJob, which
// ends it successfully. A result that does not decode into an Out is such
// an error, naming the task.
func Map[In, Out any](ctx context.Context, f *Foreman, ws []*Workman, in iter.Seq[In], fold func(i int, out Out) error, opts ...RunOption) error {
	return mapN(ctx, f, ws, in, -1, fold, opts)
}

// mapN is Map of n inputs, if n >= 0 (for Progress.Total).
func mapN[In, Out any](ctx context.Context, f *Foreman, ws []*Workman, in iter.Seq[In], n int, fold func(i int, out Out) error, opts []RunOption) error {
	var cfg runConfig // for the codec: Run applies the options again
	for _, o := range opts {
		o(&cfg)
	}
	tasks := splitter.Values(cfg.codec, in)
	if n >= 0 {
		tasks = splitter.WithSize(tasks, n)
	}
	_, err := f.Run(ctx, ws, tasks, nil, append(slices.Clip(opts), func(cfg *runConfig) {
		cfg.fold = func(n int, result *warehouse.Warehouse) error {
			out, err := codec.Value[Out](result)
			if err != nil {
				return err
			}
			return fold(n, out)
		}
	})...)
	return err
}

// Collect runs a task for each of ins (as Map does) and returns their
// results in the order of ins. With ContinueOnError, a failed task's
// result is Out's zero value and the error is the *JobError.
func Collect[In, Out any](ctx context.Context, f *Foreman, ws []*Workman, ins []In, opts ...RunOption) ([]Out, error) {
	outs := make([]Out, len(ins))
	err := mapN(ctx, f, ws, slices.Values(ins), len(ins), func(i int, out Out) error {
		outs[i] = out
		return nil
	}, opts)
	return outs, err
}

// Do runs one typed task, in, on w and waits for its result, encoded with
// codec.Default: a typed DoTask. An exception is a *TaskError.
func Do[In, Out any](ctx context.Context, w *Workman, in In) (Out, error) {
	var out Out
	task, err := codec.New(nil, in)
	if err != nil {
		return out, err
	}
	result, err := w.DoTask(ctx, task).Wait(ctx)
	if err != nil {
		return out, err
	}
	return codec.Value[Out](result)
}

// DoTeam runs ins[i] on ws[i], all at once, and waits for all of them, as
// Foreman.DoTasks does, with typed tasks and results (encoded with
// codec.Default): a team job whose workers send each other values with
// workman.Send. The results are in the order of ws.
func DoTeam[In, Out any](ctx context.Context, f *Foreman, ws []*Workman, ins []In) ([]Out, error) {
	tasks := make([]*warehouse.Warehouse, len(ins))
	for i, in := range ins {
		var err error
		if tasks[i], err = codec.New(nil, in); err != nil {
			return nil, fmt.Errorf("foreman: input %d: %w", i, err)
		}
	}
	results, err := f.DoTasks(ctx, ws, tasks)
	if err != nil {
		return nil, err
	}
	outs := make([]Out, len(results))
	for i, r := range results {
		if outs[i], err = codec.Value[Out](r); err != nil {
			return nil, fmt.Errorf("foreman: the result of task %d on worker %s: %w", i, ws[i].ID, err)
		}
	}
	return outs, nil
}
