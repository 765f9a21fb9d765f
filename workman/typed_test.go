package workman_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/workman"
)

type note struct {
	From int
	Text string
}

// TestTypedReceive: a Typed worker sends a note to every worker of its
// type, itself included, with Send, and returns the notes its OnReceive
// got; a Func worker refuses notes.
func TestTypedReceive(t *testing.T) {
	const n = 3
	var mu sync.Mutex // guards got: the handlers and the test meet only over the network, which the race detector cannot see
	var got []note
	w := workman.Typed[int, []note, note]{
		Do: func(ctx context.Context, round int) ([]note, error) {
			m := workman.MeshFrom(ctx)
			self, err := m.Self(ctx)
			if err != nil {
				return nil, err
			}
			all, err := m.AllOfType(ctx, "notes")
			if err != nil {
				return nil, err
			}
			for _, p := range all {
				if err := workman.Send(ctx, p, note{From: self.Index, Text: fmt.Sprint("round ", round)}); err != nil {
					return nil, err
				}
			}
			plain, err := m.AllOfType(ctx, "plain")
			if err != nil || len(plain) != 1 {
				return nil, fmt.Errorf("plain workers %v, %v", plain, err)
			}
			var pe *workman.PeerError
			if err := workman.Send(ctx, plain[0], note{}); !errors.As(err, &pe) || !strings.Contains(err.Error(), "takes no messages") {
				return nil, fmt.Errorf("a note to a Func worker: %v", err)
			}
			return nil, nil
		},
		OnReceive: func(ctx context.Context, from workman.Peer, msg note) error {
			if msg.From != from.Index {
				return fmt.Errorf("note from %d came from worker %d", msg.From, from.Index)
			}
			mu.Lock()
			got = append(got, msg)
			mu.Unlock()
			return nil
		},
	}
	c := parktest.Start(t, n, workman.Config{Type: "notes"}, w)
	parktest.StartWorkman(t, c.URL, workman.Config{Type: "plain"}, workman.Func(func(context.Context, int) (int, error) { return 0, nil }))
	f := parktest.NewForeman(t, c.URL, foreman.Config{})
	ws := parktest.Claim(t, f, "notes", n)
	if _, err := foreman.Collect[int, []note](context.Background(), f, ws, []int{7, 7, 7}, foreman.NoBackups()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	from := map[int]int{}
	for _, m := range got {
		if m.Text != "round 7" {
			t.Fatalf("note %+v", m)
		}
		from[m.From]++
	}
	for i := range n {
		if from[i] != n {
			t.Fatalf("notes by sender %v, want %d from each of %d workers (one per task)", from, n, n)
		}
	}
}
