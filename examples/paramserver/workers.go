package paramserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// The worker types.
const (
	TypePS      = "ps"
	TypeTrainer = "trainer"
)

// Keys of tasks, messages and results.
const (
	KeyJob      = "job"      // string: the job's id
	KeyIndex    = "index"    // int64: the task's worker's index among its type
	KeyPeers    = "peers"    // []string: the other type's worker ids (a ps's trainers, a trainer's servers)
	KeyByType   = "bytype"   // bool: find the workers in the registry by type (KeyPeers empty, KeyIndex unused)
	KeyServers  = "servers"  // int64: a ps task's number of servers
	KeyFeatures = "features" // int64
	KeySamples  = "samples"  // int64
	KeySeed     = "seed"     // int64
	KeySteps    = "steps"    // int64
	KeyRate     = "rate"     // float64
	KeyStep     = "step"     // int64: a message's step
	KeyFrom     = "from"     // int64: a message's sender's index among its type
	KeyValues   = "values"   // []float64: weights or a gradient's slice; a ps's result
)

// MaxPeers bounds the workers of a type in a job, and maxOpen the steps
// of jobs a worker holds messages for at once.
const (
	MaxPeers = 64
	maxOpen  = 64
)

// box is a step's messages by sender.
type box = map[int][]float64

// message is what a worker sends another: a step's weights or gradient.
func message(job string, step, from int, v []float64) *warehouse.Warehouse {
	m := warehouse.New()
	m.SetString(KeyJob, job)
	m.SetInt64(KeyStep, int64(step))
	m.SetInt64(KeyFrom, int64(from))
	m.SetFloat64s(KeyValues, v)
	return m
}

// receive puts a message in the inbox under its job and step.
func receive(inbox *team.Mailbox[box], in *warehouse.Warehouse) error {
	job, ok1 := in.String(KeyJob)
	step, ok2 := in.Int64(KeyStep)
	from, ok3 := in.Int64(KeyFrom)
	v, ok4 := in.Float64s(KeyValues)
	if !(ok1 && ok2 && ok3 && ok4) || step < 0 || step > MaxSteps || from < 0 || from >= MaxPeers {
		return errors.New("paramserver: a message needs a job, a step, its sender and values ([]float64)")
	}
	err := inbox.Put(stepKey(job, int(step)), int(from), true, func(m *box) error {
		if *m == nil {
			*m = make(box)
		}
		(*m)[int(from)] = v
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
func sendAll(ctx context.Context, peers []workman.Peer, msg func(i int) *warehouse.Warehouse) error {
	if err := team.Each(len(peers), -1, func(i int) error { return peers[i].Receive(ctx, msg(i)) }); err != nil {
		return fmt.Errorf("paramserver: %w", err)
	}
	return nil
}

// peersOf finds the task's peers of type typ and its own index: by the ids
// the task names, or, by type, as Fourinone's getWorkerIndex and
// getWorkerElse do (every live worker of a type in the park: right only on
// a park with no other job's workers of these types; want is how many the
// job has).
func (t *task) peersOf(ctx context.Context, typ string, want int) ([]workman.Peer, error) {
	if !t.byType {
		return team.Peers(ctx, t.peers)
	}
	mesh := workman.MeshFrom(ctx)
	var err error
	if t.index, err = mesh.SelfIndex(ctx); err != nil {
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

// task is a ps's or trainer's task.
type task struct {
	job     string
	index   int
	peers   []string
	byType  bool
	servers int
	p       Problem
}

func readTask(in *warehouse.Warehouse) (task, error) {
	var t task
	var ok [9]bool
	var index, servers, features, samples, seed, steps int64
	t.job, ok[0] = in.String(KeyJob)
	index, ok[1] = in.Int64(KeyIndex)
	t.peers, ok[2] = in.Strings(KeyPeers)
	servers, ok[3] = in.Int64(KeyServers)
	features, ok[4] = in.Int64(KeyFeatures)
	samples, ok[5] = in.Int64(KeySamples)
	seed, ok[6] = in.Int64(KeySeed)
	steps, ok[7] = in.Int64(KeySteps)
	t.p.Rate, ok[8] = in.Float64(KeyRate)
	t.byType, _ = in.Bool(KeyByType)
	for _, o := range ok {
		if !o {
			return task{}, errors.New("paramserver: a task needs a job, an index, its peers, the servers and the problem")
		}
	}
	if index < 0 || index >= MaxPeers || (len(t.peers) < 1) != t.byType || len(t.peers) > MaxPeers || servers < 1 || servers > MaxPeers ||
		features > MaxFeatures || samples > MaxSamples || steps > MaxSteps {
		return task{}, errors.New("paramserver: a task out of bounds")
	}
	t.index, t.servers = int(index), int(servers)
	t.p.Features, t.p.Samples, t.p.Seed, t.p.Steps = int(features), int(samples), uint64(seed), int(steps)
	if t.servers > t.p.Features {
		return task{}, fmt.Errorf("paramserver: %d servers for %d features", t.servers, t.p.Features)
	}
	return t, t.p.check()
}

// PS is a parameter server: it holds a shard of the weights.
type PS struct{ inbox *team.Mailbox[box] }

// NewPS returns a parameter server.
func NewPS() workman.Worker { return &PS{inbox: team.NewMailbox[box](maxOpen)} }

// Receive takes a trainer's gradient of this server's keys for a step.
func (s *PS) Receive(ctx context.Context, _ workman.Peer, in *warehouse.Warehouse) error {
	return receive(s.inbox, in)
}

// DoTask serves the job's steps: it sends the trainers its shard of the
// weights, and for each step waits for every trainer's gradient, applies
// it and sends the new weights. It returns its shard of the final weights.
func (s *PS) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	t, err := readTask(in)
	if err != nil {
		return nil, err
	}
	trainers, err := t.peersOf(ctx, TypeTrainer, 0)
	if err != nil {
		return nil, err
	}
	if t.index >= t.servers || len(trainers) < 1 {
		return nil, fmt.Errorf("paramserver: server %d of %d, with %d trainers", t.index, t.servers, len(trainers))
	}
	lo, hi := Range(t.p.Features, t.servers, t.index)
	w := make([]float64, hi-lo)
	for st := range t.p.Steps {
		if err := sendAll(ctx, trainers, func(int) *warehouse.Warehouse { return message(t.job, st, t.index, w) }); err != nil {
			return nil, err
		}
		grads, err := await(ctx, s.inbox, t.job, st, len(trainers), func(int) int { return hi - lo })
		if err != nil {
			return nil, err
		}
		step(w, grads, t.p.Rate)
	}
	out := warehouse.New()
	out.SetInt64(KeyIndex, int64(t.index))
	out.SetFloat64s(KeyValues, w)
	return out, nil
}

// Trainer computes gradients on its shard of the training data.
type Trainer struct{ inbox *team.Mailbox[box] }

// NewTrainer returns a trainer.
func NewTrainer() workman.Worker { return &Trainer{inbox: team.NewMailbox[box](maxOpen)} }

// Receive takes a server's shard of the weights for a step.
func (tr *Trainer) Receive(ctx context.Context, _ workman.Peer, in *warehouse.Warehouse) error {
	return receive(tr.inbox, in)
}

// DoTask trains: for each step it waits for every server's shard of the
// weights, computes the gradient on its data and pushes each server its
// slice.
func (tr *Trainer) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	t, err := readTask(in)
	if err != nil {
		return nil, err
	}
	servers, err := t.peersOf(ctx, TypePS, t.servers)
	if err != nil {
		return nil, err
	}
	if len(servers) != t.servers {
		return nil, fmt.Errorf("paramserver: %d servers named of %d", len(servers), t.servers)
	}
	data := t.p.Data(t.index)
	size := func(from int) int { lo, hi := Range(t.p.Features, t.servers, from); return hi - lo }
	for st := range t.p.Steps {
		shards, err := await(ctx, tr.inbox, t.job, st, t.servers, size)
		if err != nil {
			return nil, err
		}
		w := make([]float64, 0, t.p.Features)
		for _, sh := range shards {
			w = append(w, sh...)
		}
		g := Gradient(w, data)
		err = sendAll(ctx, servers, func(i int) *warehouse.Warehouse {
			lo, hi := Range(t.p.Features, t.servers, i)
			return message(t.job, st, t.index, g[lo:hi])
		})
		if err != nil {
			return nil, err
		}
	}
	out := warehouse.New()
	out.SetInt64(KeyIndex, int64(t.index))
	return out, nil
}
