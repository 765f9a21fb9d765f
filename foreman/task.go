package foreman

import (
	"context"
	"errors"
	"fmt"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/tracing"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/warehouse"
)

// Workman is a worker this foreman claimed: Fourinone's WorkerLocal. It is
// safe for concurrent use.
type Workman struct {
	ID       string
	Type     string
	Slots    int    // claimed slots: tasks Run keeps in flight on it
	Endpoint string // NATS URL it serves on

	subject string
	mode    string
	f       *Foreman
}

func (w *Workman) String() string { return fmt.Sprintf("%s(%s)", w.Type, w.ID) }

// client returns the connection w is reached on.
func (w *Workman) client() (*wire.Client, error) {
	if w.Endpoint == "" || w.subject == "" {
		return nil, fmt.Errorf("foreman: worker %s: %w: %w", w.ID, errUnreachable,
			errors.New("foreman: Workman has no endpoint: get it from GetWaitingWorkers"))
	}
	// A hub-mode worker advertises the park's URL; the park connection
	// reaches it whatever URL the foreman dialled the park by.
	if w.mode == registry.ModeHub {
		return w.f.hub, nil
	}
	c, err := w.f.pool.Get(w.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("foreman: worker %s: %w: %w", w.ID, errUnreachable, err)
	}
	return c, nil
}

// startMany sends the tasks of as (attempts of a Run on this worker) at
// once, small ones together in as few messages as fit; each attempt's
// outcome goes to deliver.
func (w *Workman) startMany(as []*attempt, deliver func(outcome)) error {
	c, err := w.client()
	if err != nil {
		return err
	}
	calls := make([]wire.Call, len(as))
	for i, a := range as {
		calls[i] = wire.Call{Body: a.t.body, Header: a.hdr, Done: func(out []byte, err error) {
			res, err := w.result(a.t.n, out, err)
			deliver(outcome{a, res, len(out), err})
		}}
	}
	ps := c.GoBatch(wire.TaskSubject(w.subject), wire.CancelSubject(w.subject), w.f.idBytes, calls)
	for i, a := range as {
		a.p = ps[i]
	}
	return nil
}

// result decodes a reply; an exception result comes back as the exception
// Warehouse and a *TaskError.
func (w *Workman) result(task int, out []byte, err error) (*warehouse.Warehouse, error) {
	if errors.Is(err, wire.ErrBusy) {
		return nil, fmt.Errorf("foreman: worker %s: %w: %w", w.ID, ErrBusy, err)
	}
	if err != nil {
		return nil, fmt.Errorf("foreman: worker %s: %w", w.ID, err)
	}
	res, err := warehouse.Decode(out)
	if err != nil {
		return nil, fmt.Errorf("foreman: worker %s sent a bad result: %w", w.ID, err)
	}
	if res.Status() == warehouse.StatusException {
		return res, &TaskError{Task: task, WorkerID: w.ID, Msg: res.Message()}
	}
	return res, nil
}

// DoTask sends in to the worker and returns at once with a handle on the
// result. Cancelling ctx cancels the task on the worker.
func (w *Workman) DoTask(ctx context.Context, in *warehouse.Warehouse) *Result {
	body, err := in.MarshalBinary()
	if err != nil {
		r := &Result{done: make(chan struct{})}
		r.finish(nil, err)
		return r
	}
	return w.doTask(ctx, body)
}

// doTask is DoTask of an encoded Warehouse.
func (w *Workman) doTask(ctx context.Context, body []byte) *Result {
	r := &Result{done: make(chan struct{})}
	c, err := w.client()
	if err != nil {
		r.finish(nil, err)
		return r
	}
	// The meta names the foreman, so the worker can tell its tasks from
	// those of a foreman whose claim has gone.
	p := c.Go(wire.TaskSubject(w.subject), wire.CancelSubject(w.subject), tracing.Inject(ctx), w.f.idBytes, body,
		func(out []byte, err error) { r.finish(w.result(-1, out, err)) })
	if ctx.Done() != nil {
		go func() {
			select {
			case <-r.done:
			case <-ctx.Done():
				p.Cancel(ctx.Err())
			}
		}()
	}
	return r
}

// Result is the pending result of a DoTask. It is safe for concurrent use.
type Result struct {
	done chan struct{}
	out  *warehouse.Warehouse // set before done closes
	err  error
}

func (r *Result) finish(out *warehouse.Warehouse, err error) {
	r.out, r.err = out, err
	close(r.done)
}

// Done returns a channel closed when the result is in.
func (r *Result) Done() <-chan struct{} { return r.done }

// Ready reports whether the result is in and is not an exception or error.
func (r *Result) Ready() bool {
	select {
	case <-r.done:
		return r.err == nil
	default:
		return false
	}
}

// Wait waits for the result. An exception comes back as the exception
// Warehouse and a *TaskError; a transport failure as a nil Warehouse and an
// error; ctx ending first gives ctx.Err() (the task is not cancelled: use
// the ctx given to DoTask for that).
func (r *Result) Wait(ctx context.Context) (*warehouse.Warehouse, error) {
	select {
	case <-r.done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// DoTaskBatch runs in on every worker at once and waits for all of them
// (Fourinone's doTaskBatch). The results are in the order of ws; err joins
// every task's error.
func (f *Foreman) DoTaskBatch(ctx context.Context, ws []*Workman, in *warehouse.Warehouse) ([]*warehouse.Warehouse, error) {
	body, err := in.MarshalBinary() // once, for every worker
	if err != nil {
		return nil, err
	}
	rs := make([]*Result, len(ws))
	for i, w := range ws {
		rs[i] = w.doTask(ctx, body)
	}
	outs := make([]*warehouse.Warehouse, len(ws))
	var errs []error
	for i, r := range rs {
		out, err := r.Wait(ctx)
		outs[i] = out
		if err != nil {
			errs = append(errs, err)
		}
	}
	return outs, errors.Join(errs...)
}

// DoTasks runs ins[i] on ws[i], all at once, and waits for all of them: a
// team job, whose workers talk to each other (Peer.Receive) while inside
// their tasks and may wait on each other. The first task to fail cancels
// the others (a worker waiting for a failed peer's data would wait until
// its timeout), and its error is returned; the results are in the order of
// ws.
func (f *Foreman) DoTasks(ctx context.Context, ws []*Workman, ins []*warehouse.Warehouse) ([]*warehouse.Warehouse, error) {
	if len(ws) != len(ins) {
		return nil, fmt.Errorf("foreman: DoTasks of %d tasks on %d workers", len(ins), len(ws))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type done struct {
		i   int
		out *warehouse.Warehouse
		err error
	}
	ch := make(chan done, len(ws))
	for i, w := range ws {
		r := w.DoTask(ctx, ins[i])
		go func() { out, err := r.Wait(context.Background()); ch <- done{i, out, err} }()
	}
	outs := make([]*warehouse.Warehouse, len(ws))
	var first error
	for range ws {
		d := <-ch
		outs[d.i] = d.out
		if d.err != nil && first == nil {
			first = d.err
			cancel()
		}
	}
	return outs, first
}
