package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// startJetStream starts a JetStream server, stopped at cleanup.
func startJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := wire.StartServer(wire.ServerConfig{JetStream: true, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := wire.Connect(ns.ClientURL(), wire.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// openRegistry starts a JetStream server with a registry bucket of lease.
func openRegistry(t *testing.T, lease time.Duration) (*registry.Registry, jetstream.KeyValue) {
	t.Helper()
	js := startJetStream(t)
	r, err := registry.Create(context.Background(), js, registry.Setup{Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(context.Background(), registry.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	return r, kv
}

func member(id, role string, capacity int) *registry.Member {
	m := &registry.Member{ID: id, Role: role, Capacity: capacity, State: registry.StateWaiting, Started: time.Now()}
	if role == registry.RoleWorkman {
		m.Type, m.Endpoint = "t", registry.Endpoint{URL: "nats://127.0.0.1:1", Subject: "fi.w." + id, Mode: registry.ModeHub}
	}
	return m
}

// TestClaims: claiming a big worker is one record, shares add up to the
// capacity and no more, absurd capacities are refused, a release reads
// the record, and a dead foreman's share is free.
func TestClaims(t *testing.T) {
	r, kv := openRegistry(t, time.Second)
	ctx := context.Background()
	w := member("w", registry.RoleWorkman, 20000)
	for _, m := range []*registry.Member{w, member("a", registry.RoleForeman, 0), member("b", registry.RoleForeman, 0)} {
		if err := r.Put(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	a, err := r.Claim(ctx, *w, "a", 15000)
	if err != nil || a.Slots != 15000 {
		t.Fatalf("a claims 15000: %+v, %v", a, err)
	}
	t.Logf("claiming 15000 slots took %v", time.Since(start))
	b, err := r.Claim(ctx, *w, "b", 0)
	if err != nil || b.Slots != 5000 {
		t.Fatalf("b claims the rest: %+v, %v; want 5000", b, err)
	}
	if c, err := r.Claim(ctx, *w, "b", 0); err != nil || c.Slots != 0 {
		t.Fatalf("claim of a full worker: %+v, %v; want 0 slots", c, err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range keys.Keys() {
		if k == "claim.w" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d claim records for one worker, want 1", n)
	}
	snap, err := r.Snapshot(ctx)
	if err != nil || snap.Claimed("w") != 20000 {
		t.Fatalf("snapshot claimed %d slots (%v), want 20000", snap.Claimed("w"), err)
	}

	// A stale refresh then a release: the release still frees a's share.
	if err := r.Refresh(ctx, a, "a"); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(ctx, a, "a"); err != nil {
		t.Fatal(err)
	}
	if h, err := r.Holders(ctx, "w"); err != nil || len(h) != 1 || h["b"] != 5000 {
		t.Fatalf("after a's release the holders are %v (%v), want b with 5000", h, err)
	}
	// Someone takes a's slots: a cannot hold them again.
	if c, err := r.Claim(ctx, *w, "b", 0); err != nil || c.Slots != 15000 {
		t.Fatalf("b claims the slots a gave back: %+v, %v", c, err)
	}
	if err := r.Refresh(ctx, a, "a"); !errors.Is(err, registry.ErrClaimLost) {
		t.Fatalf("refresh of a share taken meanwhile: %v, want ErrClaimLost", err)
	}

	// b dies (its entry is deleted): its slots are free at once.
	if err := r.Delete(ctx, member("b", registry.RoleForeman, 0)); err != nil {
		t.Fatal(err)
	}
	if c, err := r.Claim(ctx, *w, "a", 0); err != nil || c.Slots != 20000 {
		t.Fatalf("claim after b died: %+v, %v; want all 20000", c, err)
	}

	// Absurd capacities are refused and left out of snapshots.
	for _, capacity := range []int{-1, 0, registry.MaxCapacity + 1, 1e9} {
		bad := member("bad", registry.RoleWorkman, capacity)
		if _, err := r.Claim(ctx, *bad, "a", 0); err == nil {
			t.Errorf("claim on a workman of capacity %d succeeded", capacity)
		}
		if err := r.Put(ctx, bad); err != nil {
			t.Fatal(err)
		}
		snap, err := r.Snapshot(ctx)
		if err != nil || len(snap.Workmen("t")) != 1 || snap.Rejected != 1 {
			t.Errorf("capacity %d: %d workmen, %d rejected (%v); want 1 and 1", capacity, len(snap.Workmen("t")), snap.Rejected, err)
		}
	}
}

// TestClaimsWaitAfterRestart: a registry created by a restarted park takes
// no new claim for a lease; one created by a park's first start takes them
// at once.
func TestClaimsWaitAfterRestart(t *testing.T) {
	const lease = 10 * time.Second
	js := startJetStream(t)
	ctx := context.Background()
	for _, restarted := range []bool{false, true} {
		r, err := registry.Create(ctx, js, registry.Setup{Lease: lease, Restarted: restarted})
		if err != nil {
			t.Fatal(err)
		}
		snap, err := r.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wait := snap.ClaimsOpenIn
		if restarted && (wait <= 0 || wait > lease) || !restarted && wait != 0 {
			t.Fatalf("restarted %v: claims open in %v (lease %v)", restarted, wait, lease)
		}
	}
}

// TestHeartbeatUnacked: every heartbeat of a workman stores its entry
// (most without waiting for the park's acknowledgement), each is told the
// heartbeat's time, and a changed entry is stored at the next one.
func TestHeartbeatUnacked(t *testing.T) {
	r, kv := openRegistry(t, 300*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := kv.Watch(ctx, "workman.w1", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var busy atomic.Bool
	alive := make(chan time.Time, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		self := *member("w1", registry.RoleWorkman, 2)
		r.HeartbeatUnacked(ctx, func() registry.Member {
			m := self
			if busy.Load() {
				m.State, m.Busy = registry.StateBusy, 1
			}
			return m
		}, zap.NewNop(), func(ctx context.Context, at time.Time) {
			select {
			case alive <- at:
			case <-ctx.Done():
			}
		})
	}()
	defer func() { cancel(); <-done }() // on a failure too
	beats := 0
	next := func() registry.Member {
		t.Helper()
		for {
			select {
			case at := <-alive:
				if at.IsZero() {
					t.Fatal("a heartbeat reported as failed")
				}
				beats++
				continue
			case e := <-w.Updates():
				var m registry.Member
				if err := json.Unmarshal(e.Value(), &m); err != nil {
					t.Fatal(err)
				}
				return m
			case <-time.After(5 * time.Second):
				t.Fatal("no heartbeat stored in 5 s")
			}
		}
	}
	for range 7 { // two of them acknowledged
		if m := next(); m.State != registry.StateWaiting {
			t.Fatalf("state %q, want waiting", m.State)
		}
	}
	// Every heartbeat was stored, not only the acknowledged ones (one more
	// may have run since the seventh was seen).
	if beats > 8 {
		t.Fatalf("%d heartbeats for 7 stored entries", beats)
	}
	busy.Store(true)
	if m := next(); m.State != registry.StateBusy || m.Busy != 1 {
		t.Fatalf("after the change: %+v, want busy with 1 task", m)
	}
	snap, err := r.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ws := snap.Workmen("t"); len(ws) != 1 || ws[0].State != registry.StateBusy {
		t.Fatalf("registry has %+v, want w1 busy", ws)
	}
}

// A member that starts before the park's registry exists waits for it,
// saying so once at WARN, and opens it once it is there (the park server
// starting, or its cluster electing a leader).
func TestOpenWaitsAndSaysSo(t *testing.T) {
	js := startJetStream(t)
	core, logs := observer.New(zap.InfoLevel)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opened := make(chan error, 1)
	go func() {
		r, err := registry.OpenLogged(ctx, js.Conn(), zap.New(core))
		if err == nil && r.Lease() != 2*time.Second {
			err = errors.New("opened a registry of another lease")
		}
		opened <- err
	}()
	for logs.FilterMessageSnippet("waiting for the park's registry").Len() == 0 {
		if ctx.Err() != nil {
			t.Fatal("no warning while waiting for the registry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := registry.Create(ctx, js, registry.Setup{Lease: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	if w, i := logs.FilterMessageSnippet("waiting for").Len(), logs.FilterMessage("the park's registry answers").Len(); w != 1 || i != 1 {
		t.Fatalf("%d warnings and %d answers logged, want one each", w, i)
	}
}
