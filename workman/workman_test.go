package workman_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// exchanger is a Worker whose DoTask sends its index to every other worker
// of its type and then waits until it has received from all of them: an
// all-to-all exchange among workers that are all inside DoTask.
type exchanger struct {
	mu   sync.Mutex // guards got
	got  map[string][]int64
	cond chan struct{} // signalled on every receive
}

var _ workman.Worker = (*exchanger)(nil)

func newExchanger() *exchanger {
	return &exchanger{got: make(map[string][]int64), cond: make(chan struct{}, 1024)}
}

func (e *exchanger) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	m := workman.MeshFrom(ctx)
	self, err := m.Self(ctx)
	if err != nil {
		return nil, err
	}
	others, err := m.Else(ctx)
	if err != nil {
		return nil, err
	}
	msg := warehouse.New()
	msg.SetInt64("from", int64(self.Index))
	for _, p := range others {
		if err := p.Receive(ctx, msg); err != nil {
			return nil, err
		}
	}
	// Wait, inside DoTask, until every other worker has sent to us.
	for {
		e.mu.Lock()
		n := len(e.got[self.ID])
		e.mu.Unlock()
		if n == len(others) {
			break
		}
		select {
		case <-e.cond:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := warehouse.New()
	out.SetInt64("self", int64(self.Index))
	out.SetInt64s("from", e.got[self.ID])
	return out, nil
}

func (e *exchanger) Receive(ctx context.Context, from workman.Peer, in *warehouse.Warehouse) error {
	n, ok := in.Int64("from")
	if !ok || int(n) != from.Index {
		return fmt.Errorf("message says %d, sender is %v", n, from)
	}
	if n == 99 {
		return errors.New("refused")
	}
	self, err := workman.MeshFrom(ctx).Self(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.got[self.ID] = append(e.got[self.ID], n)
	e.mu.Unlock()
	// Wake every waiter; they re-check their own count.
	for range 4 {
		select {
		case e.cond <- struct{}{}:
		default:
		}
	}
	return nil
}

func TestAllToAllReceive(t *testing.T) {
	const n = 4
	for _, mode := range []string{workman.ModeMesh, workman.ModeHub} {
		t.Run(mode, func(t *testing.T) {
			ex := newExchanger()
			// Capacity 1: every DoTask slot is busy during the exchange,
			// so a Receive that queued behind DoTask would deadlock.
			c := parktest.Start(t, n, workman.Config{Type: "ex", Mode: mode, Capacity: 1}, ex)
			f := parktest.NewForeman(t, c.URL, foreman.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ws := parktest.Claim(t, f, "ex", n)
			outs, err := f.DoTaskBatch(ctx, ws, warehouse.New())
			if err != nil {
				t.Fatal(err)
			}
			seen := map[int64]bool{}
			for _, out := range outs {
				self, _ := out.Int64("self")
				seen[self] = true
				from, _ := out.Int64s("from")
				got := map[int64]bool{}
				for _, i := range from {
					got[i] = true
				}
				if len(from) != n-1 || len(got) != n-1 || got[self] {
					t.Errorf("worker %d received from %v, want every other of %d workers once", self, from, n)
				}
			}
			if len(seen) != n {
				t.Errorf("self indexes %v, want 0..%d", seen, n-1)
			}
		})
	}
}

func TestReceiveErrorsAndMesh(t *testing.T) {
	probe := workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		m := workman.MeshFrom(ctx)
		all, err := m.All(ctx)
		if err != nil {
			return nil, err
		}
		out := warehouse.New()
		out.SetInt64("all", int64(len(all)))
		ex, err := m.AllOfType(ctx, "ex")
		if err != nil {
			return nil, err
		}
		out.SetInt64("ex", int64(len(ex)))
		if _, err := m.IndexOfType(ctx, "ex", 5); !errors.Is(err, workman.ErrNoPeer) {
			return nil, fmt.Errorf("IndexOfType(5) = %v, want ErrNoPeer", err)
		}
		p, err := m.IndexOfType(ctx, "ex", 0)
		if err != nil {
			return nil, err
		}
		// By id: the same worker, of any type; an unknown id is no peer.
		if byID, err := m.Peer(ctx, p.ID); err != nil || byID.ID != p.ID || byID.Type != "ex" || byID.Index != 0 {
			return nil, fmt.Errorf("Peer(%s) = %v, %v; want the ex worker at index 0", p.ID, byID, err)
		}
		if _, err := m.Peer(ctx, "nobody"); !errors.Is(err, workman.ErrNoPeer) {
			return nil, fmt.Errorf("Peer(nobody) = %v, want ErrNoPeer", err)
		}
		msg := warehouse.New()
		msg.SetInt64("from", 99) // the exchanger refuses 99
		var pe *workman.PeerError
		if err := p.Receive(ctx, msg); !errors.As(err, &pe) || pe.Peer != p.ID {
			return nil, fmt.Errorf("Receive error = %v, want a PeerError from %s", err, p.ID)
		}
		// A WorkerFunc refuses Receive.
		self, _ := m.Self(ctx)
		if err := self.Receive(ctx, msg); err == nil {
			return nil, errors.New("a WorkerFunc accepted Receive")
		}
		return out, nil
	})
	park := parktest.StartPark(t, parkserver.Config{})
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "ex"}, newExchanger())
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "probe", Mode: workman.ModeHub}, probe)
	f := parktest.NewForeman(t, park.ClientURL(), foreman.Config{})
	ctx := context.Background()
	ws := parktest.Claim(t, f, "probe", 1)
	out, err := ws[0].DoTask(ctx, warehouse.New()).Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := out.Int64("all"); all != 2 {
		t.Errorf("All = %d workers, want 2", all)
	}
	if ex, _ := out.Int64("ex"); ex != 1 {
		t.Errorf("AllOfType(ex) = %d, want 1", ex)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  workman.Config
	}{
		{"no type", workman.Config{}},
		{"bad mode", workman.Config{Type: "x", Mode: "star"}},
		{"negative capacity", workman.Config{Type: "x", Capacity: -1}},
		{"id with a space and wildcards", workman.Config{Type: "x", ID: "a b.c*"}},
		{"id of 129 bytes", workman.Config{Type: "x", ID: strings.Repeat("a", 129)}},
		{"id of invalid UTF-8", workman.Config{Type: "x", ID: "\xff"}},
		{"type with a dot", workman.Config{Type: "x.y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := workman.New(tt.cfg, workman.WorkerFunc(nil)); !errors.Is(err, workman.ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
}

// blocker's Receive waits until its context ends.
type blocker struct{}

func (blocker) DoTask(context.Context, *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	return nil, nil
}

func (blocker) Receive(ctx context.Context, _ workman.Peer, _ *warehouse.Warehouse) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestReceiveToStuckOrGonePeer(t *testing.T) {
	for _, mode := range []string{workman.ModeMesh, workman.ModeHub} {
		t.Run(mode, func(t *testing.T) {
			park := parktest.StartPark(t, parkserver.Config{})
			stuck := parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "stuck", Mode: mode}, blocker{})
			gone := parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "gone", Mode: mode}, blocker{})
			probe := workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
				m := workman.MeshFrom(ctx)
				out := warehouse.New()
				for _, typ := range []string{"stuck", "gone"} {
					p, err := m.IndexOfType(ctx, typ, 0)
					if err != nil {
						return nil, err
					}
					if typ == "gone" {
						sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
						err := gone.Shutdown(sctx)
						cancel()
						if err != nil {
							return nil, err
						}
					}
					err = p.Receive(ctx, warehouse.New())
					if err == nil {
						return nil, fmt.Errorf("Receive on the %s peer succeeded", typ)
					}
					out.SetString(typ, err.Error())
				}
				return out, nil
			})
			parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "probe", Mode: mode, PeerTimeout: 300 * time.Millisecond}, probe)
			f := parktest.NewForeman(t, park.ClientURL(), foreman.Config{})
			ctx := context.Background()
			ws := parktest.Claim(t, f, "probe", 1)
			out, err := ws[0].DoTask(ctx, warehouse.New()).Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := out.String("stuck")
			if !strings.Contains(s, stuck.ID()) || !strings.Contains(s, "deadline exceeded") {
				t.Errorf("stuck peer: %q, want its id and a deadline", s)
			}
			g, _ := out.String("gone")
			if !strings.Contains(g, gone.ID()) || strings.Contains(g, "deadline") {
				t.Errorf("gone peer: %q, want its id and a failure at once, not a timeout", g)
			}
			t.Logf("stuck: %s; gone: %s", s, g)
		})
	}
}

func TestAdvertise(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	park := parktest.StartPark(t, parkserver.Config{})
	echo := workman.WorkerFunc(func(_ context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) { return in, nil })
	wm := parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "echo",
		Listen: fmt.Sprintf("127.0.0.1:%d", port), Advertise: fmt.Sprintf("localhost:%d", port)}, echo)
	if url, _ := wm.Endpoint(); url != fmt.Sprintf("nats://localhost:%d", port) {
		t.Fatalf("endpoint %q, want the advertised address", url)
	}
	f := parktest.NewForeman(t, park.ClientURL(), foreman.Config{})
	ctx := context.Background()
	ws, err := f.GetWaitingWorkers(ctx, "echo", 1)
	if err != nil || len(ws) != 1 || ws[0].Endpoint != fmt.Sprintf("nats://localhost:%d", port) {
		t.Fatalf("GetWaitingWorkers = %v, %v", ws, err)
	}
	in := warehouse.New()
	in.SetString("k", "v")
	out, err := ws[0].DoTask(ctx, in).Wait(ctx)
	if v, _ := out.String("k"); err != nil || v != "v" {
		t.Fatalf("DoTask through the advertised address = %v, %v", out, err)
	}
}
