package team

import (
	"context"

	"github.com/fourinone-go/fourinone/workman"
)

// Peers returns the workers with ids, in order, from inside a DoTask or
// Receive (workman.MeshFrom(ctx)): the team a task names.
func Peers(ctx context.Context, ids []string) ([]workman.Peer, error) {
	mesh := workman.MeshFrom(ctx)
	peers := make([]workman.Peer, len(ids))
	for i, id := range ids {
		var err error
		if peers[i], err = mesh.Peer(ctx, id); err != nil {
			return nil, err
		}
	}
	return peers, nil
}

// Each runs send(i) for every i in [0, n) but skip (-1: none), all at
// once, and returns the first error once all have returned.
func Each(n, skip int, send func(i int) error) error {
	errs := make(chan error, n)
	sent := 0
	for i := range n {
		if i == skip {
			continue
		}
		sent++
		go func() { errs <- send(i) }()
	}
	var first error
	for range sent {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
