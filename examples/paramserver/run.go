package paramserver

import (
	"context"
	"fmt"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/google/uuid"
)

// Train trains p on servers ps workers and trainers trainer workers where
// o says, and returns the weights. On a running park it takes the workers
// of each type there are after o.Wait, at least one of each. The tasks
// name the workers of the job; with byType the workers find each other in
// the registry by type instead (Mesh.IndexOfType, ElseOfType), which is
// right only where no other workers of these types are live.
func Train(ctx context.Context, o team.Options, servers, trainers int, p Problem, byType bool) ([]float64, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if servers > MaxPeers || trainers > MaxPeers || servers > p.Features {
		return nil, fmt.Errorf("paramserver: %d servers and %d trainers for %d features: at most %d of each, and no more servers than features",
			servers, trainers, p.Features, MaxPeers)
	}
	t, err := team.Open(ctx, o,
		team.Need{Type: TypePS, N: servers, Worker: NewPS},
		team.Need{Type: TypeTrainer, N: trainers, Worker: NewTrainer})
	if err != nil {
		return nil, fmt.Errorf("paramserver: %w", err)
	}
	defer t.Close()
	pss, trs := t.Workers[TypePS], t.Workers[TypeTrainer]
	job := uuid.NewString()
	task := func(index int, peers []*foreman.Workman) Task {
		t := Task{Job: job, Index: index, ByType: byType, Servers: len(pss), Problem: p}
		if !byType {
			for _, w := range peers {
				t.Peers = append(t.Peers, w.ID)
			}
		}
		return t
	}
	var ws []*foreman.Workman
	var ins []Task
	for i, w := range pss {
		ws, ins = append(ws, w), append(ins, task(i, trs))
	}
	for i, w := range trs {
		ws, ins = append(ws, w), append(ins, task(i, pss))
	}
	outs, err := foreman.DoTeam[Task, Result](ctx, t.Foreman, ws, ins)
	if err != nil {
		return nil, err
	}
	// Each server's shard by its index (by type, its place in the registry).
	w := make([]float64, p.Features)
	got := make([]bool, len(pss))
	for i, out := range outs[:len(pss)] {
		if out.Index < 0 || out.Index >= len(pss) || got[out.Index] {
			return nil, fmt.Errorf("paramserver: server %d returned the shard of index %d", i, out.Index)
		}
		got[out.Index] = true
		lo, hi := Range(p.Features, len(pss), out.Index)
		if len(out.Weights) != hi-lo {
			return nil, fmt.Errorf("paramserver: server %d returned %d weights, want %d", i, len(out.Weights), hi-lo)
		}
		copy(w[lo:hi], out.Weights)
	}
	return w, nil
}
