package workman

import (
	"context"
	"errors"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/warehouse"
)

// Func returns a Worker that runs do on each task's value: the task
// carries an In (see package codec), and do's Out goes back as the result,
// encoded with the codec the task came in. An error from do, or a panic,
// is an exception result with its message; so is a task that does not
// decode into an In (the message names the key and both types). The Worker
// takes no Receive calls: use Typed for that.
//
//	workman.Run(ctx, cfg, workman.Func(func(ctx context.Context, p Params) (Report, error) {
//		...
//	}))
func Func[In, Out any](do func(ctx context.Context, in In) (Out, error)) Worker {
	return Typed[In, Out, struct{}]{Do: do}
}

// Typed is a Worker of typed tasks (Do, as in Func) and typed messages
// from other workers (OnReceive, sent with Send). A nil OnReceive refuses
// messages with an error.
type Typed[In, Out, Msg any] struct {
	Do        func(ctx context.Context, in In) (Out, error)
	OnReceive func(ctx context.Context, from Peer, msg Msg) error
}

// DoTask decodes the task's In, runs Do and encodes its Out.
func (t Typed[In, Out, Msg]) DoTask(ctx context.Context, task *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	in, err := codec.Value[In](task)
	if err != nil {
		return nil, err
	}
	out, err := t.Do(ctx, in)
	if err != nil {
		return nil, err
	}
	c, _ := codec.CodecOf(task) // Value found it
	return codec.New(c, out)
}

// errNoReceive is a message to a Typed worker without OnReceive.
var errNoReceive = errors.New("workman: this worker takes no messages (its OnReceive is nil)")

// Receive decodes a message's Msg and runs OnReceive.
func (t Typed[In, Out, Msg]) Receive(ctx context.Context, from Peer, in *warehouse.Warehouse) error {
	if t.OnReceive == nil {
		return errNoReceive
	}
	msg, err := codec.Value[Msg](in)
	if err != nil {
		return err
	}
	return t.OnReceive(ctx, from, msg)
}

// Send sends msg to the worker to, encoded with codec.Default: a typed
// Peer.Receive, for a Typed worker's OnReceive.
func Send[Msg any](ctx context.Context, to Peer, msg Msg) error {
	w, err := codec.New(nil, msg)
	if err != nil {
		return err
	}
	return to.Receive(ctx, w)
}
