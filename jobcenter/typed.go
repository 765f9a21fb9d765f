package jobcenter

import (
	"context"
	"iter"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

// Define returns the Definition of Works of type typ whose input is an In
// and whose result is an Out, run on workers of typed tasks from Task to
// Res (workman.Func): split gives a Work's tasks from its input, and fold
// folds each task's result into the Work's result, from Out's zero value,
// in the order the results arrive. Tasks and the result are encoded with
// the codec of the Work's input. Set the Definition's other fields
// (Workers, WorkerType, RunOptions) on what Define returns.
//
// A Work whose input is not an In fails at once, with an error naming
// both types; a Work of a chain (Next) gets its previous Work's Out.
func Define[In, Task, Res, Out any](typ string, split func(ctx context.Context, in In) (iter.Seq[Task], error), fold func(acc Out, res Res) (Out, error)) Definition {
	return Definition{Type: typ, Job: func(ctx context.Context, input *warehouse.Warehouse) (splitter.Splitter, combiner.Combiner, error) {
		in, err := codec.Value[In](input)
		if err != nil {
			return nil, nil, permanentError{err}
		}
		tasks, err := split(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		c, _ := codec.CodecOf(input) // Value found it
		return splitter.Values(c, tasks), &typedFold[Res, Out]{c: c, fold: fold}, nil
	}}
}

// typedResult is a Combiner that keeps the Work's result itself, as a
// value, and encodes it once the job is done.
type typedResult interface {
	result() (*warehouse.Warehouse, error)
}

// typedFold folds results into an Out. Run combines on the goroutine
// that called it, so result, read once Run returned, takes no lock.
type typedFold[Res, Out any] struct {
	c    codec.Codec
	fold func(acc Out, res Res) (Out, error)
	acc  Out
}

func (f *typedFold[Res, Out]) Combine(acc, result *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	res, err := codec.Value[Res](result)
	if err != nil {
		return nil, err
	}
	if f.acc, err = f.fold(f.acc, res); err != nil {
		return nil, err
	}
	return acc, nil
}

func (f *typedFold[Res, Out]) result() (*warehouse.Warehouse, error) {
	return codec.New(f.c, f.acc)
}

// SubmitValue submits w with in, encoded with codec.Default, as its Input.
func SubmitValue[In any](ctx context.Context, c *Client, w Work, in In) (string, error) {
	input, err := codec.New(nil, in)
	if err != nil {
		return "", err
	}
	w.Input = input
	return c.Submit(ctx, w)
}

// WaitValue waits for Work id (as Client.Wait) and decodes its result into
// an Out.
func WaitValue[Out any](ctx context.Context, c *Client, id string) (Out, error) {
	var out Out
	result, err := c.Wait(ctx, id)
	if err != nil {
		return out, err
	}
	return codec.Value[Out](result)
}
