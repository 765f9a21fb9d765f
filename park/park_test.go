package park_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// client returns a park client of the park at url, closed at cleanup.
func client(t testing.TB, url string, o park.Options) *park.Client {
	t.Helper()
	nc, err := wire.Connect(url, wire.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := park.New(ctx, nc, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestNodes(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	c := client(t, p.ClientURL(), park.Options{})
	ctx := context.Background()
	const domain, name = "配置 config/α", "节点 node.1" // any string: encoded in keys, returned as given
	n, err := c.Create(ctx, domain, name, []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, domain, name, []byte("again")); !errors.Is(err, park.ErrExists) {
		t.Fatalf("Create of an existing node: %v, want ErrExists", err)
	}
	got, err := c.Get(ctx, domain, name)
	if err != nil || string(got.Value) != "v1" || got.Revision != n.Revision || got.Domain != domain || got.Name != name {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	u, err := c.Update(ctx, domain, name, []byte("v2"), park.IfRevision(n.Revision))
	if err != nil || u.Revision <= n.Revision {
		t.Fatalf("Update = %+v, %v", u, err)
	}
	if _, err := c.Update(ctx, domain, name, []byte("v3"), park.IfRevision(n.Revision)); !errors.Is(err, park.ErrChanged) {
		t.Fatalf("Update on a stale revision: %v, want ErrChanged", err)
	}
	if _, err := c.Create(ctx, domain, "other", []byte("o")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "another domain", name, []byte("x")); err != nil {
		t.Fatal(err)
	}
	list, err := c.List(ctx, domain)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range list {
		names = append(names, n.Name+"="+string(n.Value))
	}
	if fmt.Sprint(names) != fmt.Sprint([]string{name + "=v2", "other=o"}) && fmt.Sprint(names) != fmt.Sprint([]string{"other=o", name + "=v2"}) {
		t.Fatalf("List = %v", names)
	}
	if err := c.Delete(ctx, domain, name, park.IfRevision(n.Revision)); !errors.Is(err, park.ErrChanged) {
		t.Fatalf("Delete on a stale revision: %v, want ErrChanged", err)
	}
	if err := c.Delete(ctx, domain, name); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, domain, name); !errors.Is(err, park.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	// A deleted node can be created again.
	if _, err := c.Create(ctx, domain, name, []byte("v4")); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	for _, bad := range []string{"", string([]byte{0xff, 0xfe})} {
		if _, err := c.Create(ctx, bad, "n", nil); !errors.Is(err, park.ErrName) {
			t.Fatalf("Create in domain %q: %v, want ErrName", bad, err)
		}
	}
}

// next returns the next event, failing after a while.
func next(t *testing.T, ch <-chan park.Event) park.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return park.Event{}
}

func describe(ev park.Event) string {
	return fmt.Sprintf("%v %s %s", ev.Op, ev.Node.Name, ev.Node.Value)
}

// TestWatch: every change in order, once; equal content is not a change;
// a watcher resumes from the last revision it saw.
func TestWatch(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	c := client(t, p.ClientURL(), park.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.Create(ctx, "d", "before", []byte("0")); err != nil {
		t.Fatal(err)
	}
	ch, err := c.Watch(ctx, "d", "")
	if err != nil {
		t.Fatal(err)
	}
	one, err := c.Watch(context.Background(), "d", "a") // ended by the client's Close
	if err != nil {
		t.Fatal(err)
	}
	do := func(steps ...func() error) {
		t.Helper()
		for _, step := range steps {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
	}
	do(
		func() error { _, err := c.Create(ctx, "d", "a", []byte("1")); return err },
		func() error { _, err := c.Update(ctx, "d", "a", []byte("1")); return err }, // equal: no event
		func() error { _, err := c.Update(ctx, "d", "a", []byte("2")); return err },
		func() error { _, err := c.Create(ctx, "d", "b", []byte("3")); return err },
		func() error { _, err := c.Create(ctx, "elsewhere", "a", []byte("x")); return err },
	)
	var last uint64
	expect := func(i int, w string) {
		t.Helper()
		ev := next(t, ch)
		if describe(ev) != w || ev.Node.Revision <= last {
			t.Fatalf("event %d: %s at %d, want %s after %d", i, describe(ev), ev.Node.Revision, w, last)
		}
		last = ev.Node.Revision
	}
	expect(0, "put a 1")
	expect(1, "put a 2")
	expect(2, "put b 3")
	// Stop, change a node while no watch runs, and resume from the last
	// revision seen: the change is replayed from the node's history.
	cancel()
	for range ch {
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	do(func() error { _, err := c.Update(ctx, "d", "b", []byte("4")); return err })
	if ch, err = c.Watch(ctx, "d", "", park.FromRevision(last)); err != nil {
		t.Fatal(err)
	}
	expect(3, "put b 4")
	for _, w := range []string{"put a 1", "put a 2"} {
		if ev := next(t, one); describe(ev) != w {
			t.Fatalf("node watch: %s, want %s", describe(ev), w)
		}
	}
	// A deletion drops the node's history: the watchers have read a's
	// changes before it goes (one that had not would see only its deletion).
	do(
		func() error { return c.Delete(ctx, "d", "a") },
		func() error { return c.Delete(ctx, "d", "before") },
	)
	expect(4, "delete a ")
	expect(5, "delete before ")
	if ev := next(t, one); describe(ev) != "delete a " {
		t.Fatalf("node watch: %s, want delete a", describe(ev))
	}
}

// TestEphemeral: an ephemeral node lives while its client renews it,
// and goes (watchers see it) within a lease once the client stops
// renewing; Close deletes a client's nodes at once.
func TestEphemeral(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	watcher := client(t, p.ClientURL(), park.Options{})
	ctx := context.Background()
	ch, err := watcher.Watch(ctx, "members", "")
	if err != nil {
		t.Fatal(err)
	}
	a := client(t, p.ClientURL(), park.Options{Lease: time.Second})
	if _, err := a.Create(ctx, "members", "a", []byte("here"), park.Ephemeral()); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch); describe(ev) != "put a here" || !ev.Node.Ephemeral {
		t.Fatalf("%s (ephemeral %v), want put a here", describe(ev), ev.Node.Ephemeral)
	}
	// Renewals (three a lease) are no events; the node outlives several
	// leases while its client lives.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case ev := <-ch:
			t.Fatalf("an event while the client renews: %s", describe(ev))
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := watcher.Get(ctx, "members", "a"); err != nil {
		t.Fatalf("the ephemeral node after 3 leases of renewals: %v", err)
	}
	// Close deletes it at once.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ch); describe(ev) != "delete a " {
		t.Fatalf("%s, want delete a", describe(ev))
	}
}

// TestLockCounter: 10 clients increment a counter file under one lock 20
// times each: the count is exact, and the fencing tokens of successive
// holders strictly increase.
func TestLockCounter(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	file := filepath.Join(t.TempDir(), "counter")
	if err := os.WriteFile(file, []byte("0"), 0o600); err != nil {
		t.Fatal(err)
	}
	const clients, each = 10, 20
	var mu sync.Mutex // guards tokens (not the file: the lock does)
	var tokens []uint64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		c := client(t, p.ClientURL(), park.Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := increment(c, file, func(tok uint64) { mu.Lock(); tokens = append(tokens, tok); mu.Unlock() }); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != strconv.Itoa(clients*each) {
		t.Fatalf("count %s, want %d", b, clients*each)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("token %d of holder %d after %d", tokens[i], i, tokens[i-1])
		}
	}
}

// increment adds one to the count in file under the lock "counter".
func increment(c *park.Client, file string, held func(token uint64)) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := c.Lock(ctx, "counter")
	if err != nil {
		return err
	}
	held(l.Token())
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return err
	}
	if err := os.WriteFile(file, []byte(strconv.Itoa(n+1)), 0o600); err != nil {
		return err
	}
	return l.Unlock(ctx)
}

// TestLockHolderGone: a holder that stops renewing (its process paused
// or dead) loses the lock within its lease: Done tells it, and the next
// waiter holds it with a greater token.
func TestLockHolderGone(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	nc, err := wire.Connect(p.ClientURL(), wire.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	a, err := park.New(ctx, nc, park.Options{Lease: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	la, err := a.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	b := client(t, p.ClientURL(), park.Options{})
	got := make(chan *park.Lock, 1)
	go func() {
		l, err := b.Lock(ctx, "x")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("b holds the lock while a does")
	case <-time.After(1500 * time.Millisecond): // more than a's lease: a renews
	}
	// a's connection goes: it cannot renew, as if its process were cut off.
	t0 := time.Now()
	nc.Close()
	select {
	case <-la.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a was never told it lost the lock")
	}
	lb := <-got
	if lb == nil {
		t.FailNow()
	}
	t.Logf("a cut off: b holds the lock %v after", time.Since(t0))
	if lb.Token() <= la.Token() {
		t.Fatalf("b's token %d after a's %d", lb.Token(), la.Token())
	}
	if err := lb.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestClusterConflicts: on a 3-server cluster (replicated streams report
// a compare-and-set conflict with a write in flight with another error
// code than one server) a stale revision is ErrChanged, an existing node
// ErrExists, concurrent writes of one node all succeed, and a lock still
// goes to one waiter at a time.
func TestClusterConflicts(t *testing.T) {
	parktest.NeedCluster(t)
	_, urls := parktest.StartCluster(t, 3, parkserver.Config{})
	c := client(t, urls, park.Options{})
	ctx := context.Background()
	n, err := c.Create(ctx, "d", "n", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "d", "n", []byte("1")); !errors.Is(err, park.ErrExists) {
		t.Fatalf("Create of an existing node: %v, want ErrExists", err)
	}
	if _, err := c.Update(ctx, "d", "n", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(ctx, "d", "n", []byte("3"), park.IfRevision(n.Revision)); !errors.Is(err, park.ErrChanged) {
		t.Fatalf("Update on a stale revision: %v, want ErrChanged", err)
	}
	// Concurrent writes of one node: a write that meets another in flight
	// is a conflict there (code 10164), written again on the latest.
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				if _, err := c.Update(ctx, "d", "n", []byte(fmt.Sprint(w, ".", i))); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a concurrent Update: %v", err)
	}
	l, err := c.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	other := client(t, urls, park.Options{})
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second) // the holder holds it all along
	defer cancel()
	if _, err := other.Lock(wctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second Lock while the first is held: %v, want to wait until its context ends", err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	l2, err := other.Lock(ctx, "x")
	if err != nil || l2.Token() <= l.Token() {
		t.Fatalf("Lock after Unlock: %v (token %d after %d)", err, l2.Token(), l.Token())
	}
}

// TestConfig: Config gives the current value (nil: none), then each new
// one, and nil when the node is deleted; a write of equal content is not
// a new value.
func TestConfig(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	c := client(t, p.ClientURL(), park.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	values, err := c.Config(ctx, "app", "db")
	if err != nil {
		t.Fatal(err)
	}
	nextValue := func() []byte {
		t.Helper()
		select {
		case v, ok := <-values:
			if !ok {
				t.Fatal("Config's channel closed")
			}
			return v
		case <-time.After(10 * time.Second):
			t.Fatal("no value within 10s")
			return nil
		}
	}
	if v := nextValue(); v != nil {
		t.Fatalf("first value %q, want nil (no node)", v)
	}
	for _, v := range []string{"a", "a", "b"} {
		if _, err := c.Update(ctx, "app", "db", []byte(v)); errors.Is(err, park.ErrNotFound) {
			_, err = c.Create(ctx, "app", "db", []byte(v))
		} else if err != nil {
			t.Fatal(err)
		}
	}
	// The reader may fall behind: it gets "a" then "b", or "b" only.
	if v := nextValue(); string(v) == "a" {
		if v := nextValue(); string(v) != "b" {
			t.Fatalf("value after a %q, want b", v)
		}
	} else if string(v) != "b" {
		t.Fatalf("value %q, want a or b", v)
	}
	if err := c.Delete(ctx, "app", "db"); err != nil {
		t.Fatal(err)
	}
	if v := nextValue(); v != nil {
		t.Fatalf("value after Delete %q, want nil", v)
	}
	// A second Config sees the node as it is.
	if _, err := c.Create(ctx, "app", "db", []byte("c")); err != nil {
		t.Fatal(err)
	}
	again, err := c.Config(ctx, "app", "db")
	if err != nil {
		t.Fatal(err)
	}
	if v := <-again; string(v) != "c" {
		t.Fatalf("a new Config's first value %q, want c", v)
	}
}

// TestAnonymousNodes: nodes created without names (a queue, as Fourinone's
// mqDemo makes one) are listed in the order they were made.
func TestAnonymousNodes(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	c := client(t, p.ClientURL(), park.Options{})
	ctx := context.Background()
	for i := range 20 {
		if _, err := c.Create(ctx, "queue", "", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := c.List(ctx, "queue")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 20 {
		t.Fatalf("%d nodes listed, want 20", len(nodes))
	}
	for i, n := range nodes {
		if string(n.Value) != strconv.Itoa(i) {
			t.Fatalf("node %d of the list holds %q, want %d", i, n.Value, i)
		}
	}
}

// Hostile names: '.', '*' and '>' are characters of a name like any other
// (a lock named "*" or ">" holds that name alone, "a.b" is not "a" then
// "b"), and a name of 1 KiB or of invalid UTF-8 is refused with ErrName
// for a node, a lock and an election alike, before anything is written.
func TestHostileNames(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	a := client(t, p.ClientURL(), park.Options{})
	b := client(t, p.ClientURL(), park.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wild := []string{"*", ">", "a.b", "a.*", "a.>", ".", "..", "a b", "=2A"}
	held := map[string]*park.Lock{}
	for _, name := range wild {
		l, err := a.Lock(ctx, name)
		if err != nil {
			t.Fatalf("Lock(%q): %v", name, err)
		}
		held[name] = l
	}
	// Each lock holds its own name only: b takes "a" and "b" at once, and
	// waits on "*" until a lets it go.
	for _, name := range []string{"a", "b", "a.c", "*x"} {
		l, err := b.Lock(ctx, name)
		if err != nil {
			t.Fatalf("Lock(%q) with %q held elsewhere: %v", name, wild, err)
		}
		if err := l.Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if _, err := b.Lock(wctx, "*"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second Lock(\"*\") while held: %v, want to wait", err)
	}
	wcancel()
	for _, name := range wild {
		if err := held[name].Unlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Elect(ctx, "g.*", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if v, _, err := b.Leader(ctx, "g.*"); err != nil || string(v) != "a" {
		t.Fatalf("Leader(g.*) = %q, %v", v, err)
	}
	if _, _, err := b.Leader(ctx, "g"); !errors.Is(err, park.ErrNotFound) {
		t.Fatalf("Leader(g) = %v, want no leader (only g.* has one)", err)
	}
	// Nodes: the domain "a.b" with node "c" is not the domain "a" with node
	// "b.c", and a List of "*" lists the domain "*" alone.
	if _, err := a.Create(ctx, "a.b", "c", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(ctx, "a", "b.c", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Get(ctx, "a", "b.c"); err != nil || string(n.Value) != "2" {
		t.Fatalf("Get(a, b.c) = %v, %v", n, err)
	}
	if ns, err := a.List(ctx, "*"); err != nil || len(ns) != 0 {
		t.Fatalf("List(*) = %d nodes, %v; want none", len(ns), err)
	}
	for _, bad := range []string{strings.Repeat("k", 1024), "\xff\xfe", "a\xc3"} {
		if _, err := a.Lock(ctx, bad); !errors.Is(err, park.ErrName) {
			t.Errorf("Lock(%.20q): %v, want ErrName", bad, err)
		}
		if _, err := a.Elect(ctx, bad, nil); !errors.Is(err, park.ErrName) {
			t.Errorf("Elect(%.20q): %v, want ErrName", bad, err)
		}
		if _, err := a.Create(ctx, "d", bad, nil); !errors.Is(err, park.ErrName) {
			t.Errorf("Create(d, %.20q): %v, want ErrName", bad, err)
		}
		if _, err := a.Watch(ctx, bad, ""); !errors.Is(err, park.ErrName) {
			t.Errorf("Watch(%.20q): %v, want ErrName", bad, err)
		}
	}
	if ns, err := a.List(ctx, "d"); err != nil || len(ns) != 0 {
		t.Fatalf("List(d) after refused creates = %d nodes, %v; want none", len(ns), err)
	}
}

// An Unlock the park cannot take (it is down) fails, but the client stops
// renewing the lock all the same: it ends with its lease, and the same
// client locks it again once the park is back, with a greater token.
func TestUnlockWithoutThePark(t *testing.T) {
	store, addr := t.TempDir(), parktest.FreeAddr(t)
	p := parktest.StartPark(t, parkserver.Config{StoreDir: store, Listen: addr})
	a := client(t, p.ClientURL(), park.Options{Lease: time.Second})
	ctx := context.Background()
	l, err := a.Lock(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	uctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = l.Unlock(uctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "no longer renewed: it ends within a lease") {
		t.Fatalf("Unlock with the park down: %v", err)
	}
	if l.Valid() {
		t.Fatal("the lock is still valid after a failed Unlock")
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("the lock's Done is open after a failed Unlock")
	}
	parktest.StartPark(t, parkserver.Config{StoreDir: store, Listen: addr})
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	l2, err := a.Lock(lctx, "x")
	if err != nil {
		t.Fatalf("Lock after the park came back: %v", err)
	}
	if l2.Token() <= l.Token() {
		t.Fatalf("token %d after %d", l2.Token(), l.Token())
	}
	if err := l2.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestElectionOrder: candidates lead in the order they stood, before and
// after the leader's renewal writes its place in line, and Leader tells
// the leader's value and token throughout.
func TestElectionOrder(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := client(t, p.ClientURL(), park.Options{Lease: time.Second})
	b := client(t, p.ClientURL(), park.Options{})
	watch, err := b.Watch(ctx, park.ElectDomain("g"), "")
	if err != nil {
		t.Fatal(err)
	}
	la, err := a.Elect(ctx, "g", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	leader := func(want string, token uint64) {
		t.Helper()
		v, tok, err := b.Leader(ctx, "g")
		if err != nil || string(v) != want || tok != token {
			t.Fatalf("Leader = %q, %d, %v; want %q, %d", v, tok, err, want, token)
		}
	}
	leader("a", la.Token())
	got := make(chan *park.Leadership, 1)
	go func() {
		lb, err := b.Elect(ctx, "g", []byte("b"))
		if err != nil {
			t.Error(err)
		}
		got <- lb
	}()
	// a's node: created, then renewed (its place written); b's created.
	renewed := false
	for puts := map[string]int{}; !renewed; {
		ev, ok := <-watch
		if !ok {
			t.Fatal("the watch ended before a's node was renewed")
		}
		puts[ev.Node.Name]++
		renewed = ev.Op == park.Put && string(ev.Node.Value[8:]) == "a" && puts[ev.Node.Name] == 2
	}
	leader("a", la.Token())
	select {
	case <-got:
		t.Fatal("b leads while a does")
	default:
	}
	if err := la.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	lb := <-got
	if lb == nil {
		t.FailNow()
	}
	if lb.Token() <= la.Token() {
		t.Fatalf("b's token %d after a's %d", lb.Token(), la.Token())
	}
	leader("b", lb.Token())
	if err := lb.Resign(ctx); err != nil {
		t.Fatal(err)
	}
}
