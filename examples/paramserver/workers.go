package paramserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/workman"
)

// The worker types.
const (
	TypePS      = "ps"
	TypeTrainer = "trainer"
)

// Task is a ps's or trainer's task.
type Task struct {
	Job     string   // the job's id
	Index   int      // the worker's index among its type
	Peers   []string // the other type's worker ids (a ps's trainers, a trainer's servers)
	ByType  bool     // find the workers in the registry by type (Peers empty, Index unused)
	Servers int      // the job's number of servers
	Problem Problem
}

// Message is what a worker sends another: a step's weights or gradient.
type Message struct {
	Job        string
	Step, From int // From: the sender's index among its type
	Values     []float64
}

// Result is a task's result: a server's index and its shard of the final
// weights (a trainer's index and none).
type Result struct {
	Index   int
	Weights []float64
}

// MaxPeers bounds the workers of a type in a job, and maxOpen the steps
// of jobs a worker holds messages for at once.
const (
	MaxPeers = 64
	maxOpen  = 64
)

// box is a step's messages by sender.
type box = map[int][]float64

// receive puts a message in the inbox under its job and step.
func receive(inbox *team.Mailbox[box], m Message) error {
	if m.Step < 0 || m.Step > MaxSteps || m.From < 0 || m.From >= MaxPeers {
		return fmt.Errorf("paramserver: a message of step %d from worker %d, out of bounds", m.Step, m.From)
	}
	err := inbox.Put(stepKey(m.Job, m.Step), m.From, true, func(b *box) error {
		if *b == nil {
			*b = make(box)
		}
		(*b)[m.From] = m.Values
		return nil
	})
	if err != nil {
		return fmt.Errorf("paramserver: %w", err)
	}
	return nil
}

func stepKey(job string, step int) string { return job + "/" + strconv.Itoa(step) }

// await waits for step's messages from n senders and returns them by
// sender, each of the length want says.
func await(ctx context.Context, inbox *team.Mailbox[box], job string, step, n int, want func(from int) int) ([][]float64, error) {
	key := stepKey(job, step)
	if err := inbox.Expect(key, n); err != nil {
		return nil, fmt.Errorf("paramserver: %w", err)
	}
	defer inbox.Close(key)
	var got box
	if err := inbox.Wait(ctx, key, func(m *box) { got = *m }); err != nil {
		return nil, fmt.Errorf("paramserver: step %d: %w", step, err)
	}
	out := make([][]float64, n)
	for from := range n {
		if len(got[from]) != want(from) {
			return nil, fmt.Errorf("paramserver: step %d: %d values from worker %d, want %d", step, len(got[from]), from, want(from))
		}
		out[from] = got[from]
	}
	return out, nil
}

// sendAll sends every peer its message, all at once.
func sendAll(ctx context.Context, peers []workman.Peer, msg func(i int) Message) error {
	if err := team.Each(len(peers), -1, func(i int) error { return workman.Send(ctx, peers[i], msg(i)) }); err != nil {
		return fmt.Errorf("paramserver: %w", err)
	}
	return nil
}

// peersOf finds the task's peers of type typ and its own index: by the ids
// the task names, or, by type, as Fourinone's getWorkerIndex and
// getWorkerElse do (every live worker of a type in the park: right only on
// a park with no other job's workers of these types; want is how many the
// job has).
func (t *Task) peersOf(ctx context.Context, typ string, want int) ([]workman.Peer, error) {
	if !t.ByType {
		return team.Peers(ctx, t.Peers)
	}
	mesh := workman.MeshFrom(ctx)
	var err error
	if t.Index, err = mesh.SelfIndex(ctx); err != nil {
		return nil, err
	}
	var peers []workman.Peer
	if typ == TypePS {
		for i := range want {
			p, err := mesh.IndexOfType(ctx, typ, i)
			if err != nil {
				return nil, err
			}
			peers = append(peers, p)
		}
		if all, err := mesh.AllOfType(ctx, typ); err != nil || len(all) != want {
			return nil, fmt.Errorf("paramserver: by type, the park has %d %s workers, the job %d: other workers of the type are live", len(all), typ, want)
		}
	} else if peers, err = mesh.ElseOfType(ctx, typ); err != nil {
		return nil, err
	}
	return peers, nil
}

// check bounds a task, so that it cannot ask a worker for unbounded
// memory or time.
func (t *Task) check() error {
	if t.Index < 0 || t.Index >= MaxPeers || (len(t.Peers) < 1) != t.ByType || len(t.Peers) > MaxPeers || t.Servers < 1 || t.Servers > MaxPeers {
		return errors.New("paramserver: a task out of bounds")
	}
	if t.Servers > t.Problem.Features {
		return fmt.Errorf("paramserver: %d servers for %d features", t.Servers, t.Problem.Features)
	}
	return t.Problem.check()
}

// NewPS returns a parameter server: it holds a shard of the weights. Its
// task serves the job's steps: it sends the trainers its shard of the
// weights, and for each step waits for every trainer's gradient (its
// messages), applies it and sends the new weights. It returns its shard of
// the final weights.
func NewPS() workman.Worker {
	inbox := team.NewMailbox[box](maxOpen)
	return workman.Typed[Task, Result, Message]{
		OnReceive: func(_ context.Context, _ workman.Peer, m Message) error { return receive(inbox, m) },
		Do: func(ctx context.Context, t Task) (Result, error) {
			if err := t.check(); err != nil {
				return Result{}, err
			}
			trainers, err := t.peersOf(ctx, TypeTrainer, 0)
			if err != nil {
				return Result{}, err
			}
			if t.Index >= t.Servers || len(trainers) < 1 {
				return Result{}, fmt.Errorf("paramserver: server %d of %d, with %d trainers", t.Index, t.Servers, len(trainers))
			}
			lo, hi := Range(t.Problem.Features, t.Servers, t.Index)
			w := make([]float64, hi-lo)
			for st := range t.Problem.Steps {
				if err := sendAll(ctx, trainers, func(int) Message { return Message{t.Job, st, t.Index, w} }); err != nil {
					return Result{}, err
				}
				grads, err := await(ctx, inbox, t.Job, st, len(trainers), func(int) int { return hi - lo })
				if err != nil {
					return Result{}, err
				}
				step(w, grads, t.Problem.Rate)
			}
			return Result{Index: t.Index, Weights: w}, nil
		},
	}
}

// NewTrainer returns a trainer: it computes gradients on its shard of the
// training data. Its task trains: for each step it waits for every
// server's shard of the weights, computes the gradient on its data and
// pushes each server its slice.
func NewTrainer() workman.Worker {
	inbox := team.NewMailbox[box](maxOpen)
	return workman.Typed[Task, Result, Message]{
		OnReceive: func(_ context.Context, _ workman.Peer, m Message) error { return receive(inbox, m) },
		Do: func(ctx context.Context, t Task) (Result, error) {
			if err := t.check(); err != nil {
				return Result{}, err
			}
			servers, err := t.peersOf(ctx, TypePS, t.Servers)
			if err != nil {
				return Result{}, err
			}
			if len(servers) != t.Servers {
				return Result{}, fmt.Errorf("paramserver: %d servers named of %d", len(servers), t.Servers)
			}
			p := t.Problem
			data := p.Data(t.Index)
			size := func(from int) int { lo, hi := Range(p.Features, t.Servers, from); return hi - lo }
			for st := range p.Steps {
				shards, err := await(ctx, inbox, t.Job, st, t.Servers, size)
				if err != nil {
					return Result{}, err
				}
				w := make([]float64, 0, p.Features)
				for _, sh := range shards {
					w = append(w, sh...)
				}
				g := Gradient(w, data)
				err = sendAll(ctx, servers, func(i int) Message {
					lo, hi := Range(p.Features, t.Servers, i)
					return Message{t.Job, st, t.Index, g[lo:hi]}
				})
				if err != nil {
					return Result{}, err
				}
			}
			return Result{Index: t.Index}, nil
		},
	}
}
