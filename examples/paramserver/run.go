package paramserver

import (
	"context"
	"fmt"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/warehouse"
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
	task := func(index int, peers []*foreman.Workman) *warehouse.Warehouse {
		in := warehouse.New()
		in.SetString(KeyJob, job)
		in.SetInt64(KeyIndex, int64(index))
		ids := make([]string, len(peers))
		for i, w := range peers {
			ids[i] = w.ID
		}
		if byType {
			ids = nil
			in.SetBool(KeyByType, true)
		}
		in.SetStrings(KeyPeers, ids)
		in.SetInt64(KeyServers, int64(len(pss)))
		in.SetInt64(KeyFeatures, int64(p.Features))
		in.SetInt64(KeySamples, int64(p.Samples))
		in.SetInt64(KeySeed, int64(p.Seed))
		in.SetInt64(KeySteps, int64(p.Steps))
		in.SetFloat64(KeyRate, p.Rate)
		return in
	}
	var ws []*foreman.Workman
	var ins []*warehouse.Warehouse
	for i, w := range pss {
		ws, ins = append(ws, w), append(ins, task(i, trs))
	}
	for i, w := range trs {
		ws, ins = append(ws, w), append(ins, task(i, pss))
	}
	outs, err := t.Foreman.DoTasks(ctx, ws, ins)
	if err != nil {
		return nil, err
	}
	// Each server's shard by its index (by type, its place in the registry).
	w := make([]float64, p.Features)
	got := make([]bool, len(pss))
	for i := range pss {
		index, _ := outs[i].Int64(KeyIndex)
		v, ok := outs[i].Float64s(KeyValues)
		if index < 0 || index >= int64(len(pss)) || got[index] {
			return nil, fmt.Errorf("paramserver: server %d returned the shard of index %d", i, index)
		}
		got[index] = true
		lo, hi := Range(p.Features, len(pss), int(index))
		if !ok || len(v) != hi-lo {
			return nil, fmt.Errorf("paramserver: server %d returned %d weights, want %d", i, len(v), hi-lo)
		}
		copy(w[lo:hi], v)
	}
	return w, nil
}
