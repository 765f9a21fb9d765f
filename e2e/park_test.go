package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/security"
	"github.com/nats-io/nats.go"
)

// Coordination tests: the park server and the examples' lock, leader and
// config programs as processes.

// parkClient is a client of the park's coordination service, closed at
// cleanup.
func parkClient(t *testing.T, url string) *park.Client {
	t.Helper()
	c := openOnPark(t, url, func(ctx context.Context, nc *nats.Conn) (*park.Client, error) {
		return park.New(ctx, nc, park.Options{})
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestParkLockContenders: 20 processes add one to a counter file 50 times
// each under one lock: the count is exact, and the holders' fencing tokens
// (each appended under the lock) strictly increase.
func TestParkLockContenders(t *testing.T) {
	url := startPark(t)
	file := filepath.Join(t.TempDir(), "counter")
	const procs, each = 20, 25
	var wg sync.WaitGroup
	errs := make(chan error, procs)
	t0 := time.Now()
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 10-15 s alone; the limit is for a machine busy with other tests.
			if _, stderr, err := runCmdWithin(t, 6*time.Minute, "lock", "-park", url, "-n", strconv.Itoa(each), file); err != nil {
				errs <- fmt.Errorf("%v: %s", err, stderr)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d processes x %d increments under one lock: %v", procs, each, time.Since(t0).Round(time.Millisecond))
	checkCounter(t, file, procs*each)
}

// checkCounter checks the lock examples' counter file: holds increments,
// each logged with its fencing token in file.tokens, the tokens strictly
// increasing, and the file written last with the greatest.
func checkCounter(t *testing.T, file string, holds int) {
	t.Helper()
	tokens := readTokens(t, file+".tokens")
	if len(tokens) != holds {
		t.Fatalf("%d holds logged, want %d", len(tokens), holds)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("hold %d has token %d after %d", i, tokens[i], tokens[i-1])
		}
	}
	if got, want := readFile(t, file), fmt.Sprintf("%d %d\n", holds, tokens[len(tokens)-1]); got != want {
		t.Fatalf("counter file %q, want %q", got, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readTokens(t *testing.T, path string) []uint64 {
	t.Helper()
	var out []uint64
	for _, f := range strings.Fields(readFile(t, path)) {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// TestParkLockHolderKilled: the holder of a lock is killed (-9) with
// another process waiting: the waiter holds the lock once the holder's
// lease (1 s) has run out, with a greater token.
func TestParkLockHolderKilled(t *testing.T) {
	url := startPark(t)
	file := filepath.Join(t.TempDir(), "counter")
	a, line := start(t, "held ", "lock", "-park", url, "-lease", "1s", "-n", "1", "-hold", file)
	tokA, _ := strconv.ParseUint(strings.TrimPrefix(line, "held "), 10, 64)
	b, _ := start(t, "started", "lock", "-park", url, "-lease", "1s", "-n", "1", file)
	// b is in line once the lock has two waiters.
	c := parkClient(t, url)
	waitFor(t, 10*time.Second, "b in line", func() bool {
		nodes, err := c.List(context.Background(), "lock:counter")
		return err == nil && len(nodes) == 2
	})
	select {
	case l := <-b.lines:
		t.Fatalf("b printed %q while a held the lock", l)
	default:
	}
	killed := time.Now()
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	l := waitLine(t, b, "held ")
	t.Logf("holder killed: the waiter held the lock %v after (lease 1s)", time.Since(killed).Round(time.Millisecond))
	tokB, _ := strconv.ParseUint(strings.TrimPrefix(l, "held "), 10, 64)
	if tokB <= tokA {
		t.Fatalf("the waiter's token %d after the killed holder's %d", tokB, tokA)
	}
	<-b.done
	if got, want := readFile(t, file), fmt.Sprintf("2 %d\n", tokB); got != want {
		t.Fatalf("counter file %q, want %q", got, want)
	}
}

// waitFor waits until cond holds, checking every 10 ms, for up to within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// candidateLine is a line one of the election's candidates printed.
type candidateLine struct {
	who  int
	line string
}

// election is candidates standing for one group, as processes.
type election struct {
	t     *testing.T
	procs []*proc
	lines chan candidateLine
	seen  []candidateLine // read so far
}

// read returns the next line a candidate printed, within a minute.
func (e *election) read(what string) candidateLine {
	e.t.Helper()
	select {
	case l := <-e.lines:
		e.seen = append(e.seen, l)
		return l
	case <-time.After(time.Minute):
		e.t.Fatalf("no candidate printed %q within a minute (%s)", what, e.said())
		return candidateLine{}
	}
}

// stand starts a candidate for each URL, with lease; each logs the times
// it leads to log.
func stand(t *testing.T, urls []string, lease, log string) *election {
	e := &election{t: t, procs: make([]*proc, len(urls)), lines: make(chan candidateLine, 100)}
	over := make(chan struct{}) // the forwarders end with the test, even if nobody reads
	for i, url := range urls {
		e.procs[i], _ = start(t, "standing as", "leader", "-park", url, "-lease", lease, "-every", "10ms", "-name", fmt.Sprint("c", i), log)
		go func() {
			for l := range e.procs[i].lines {
				select {
				case e.lines <- candidateLine{i, l}:
				case <-over:
					return
				}
			}
		}()
	}
	t.Cleanup(func() { close(over) }) // before the processes' own cleanups
	return e
}

// next waits for a candidate not in skip to lead, and returns it.
func (e *election) next(skip ...int) int {
	e.t.Helper()
	for {
		if l := e.read("leader"); strings.HasPrefix(l.line, "leader ") && !slices.Contains(skip, l.who) {
			return l.who
		}
	}
}

// lost waits until candidate who says it lost its leadership (or has).
func (e *election) lost(who int) {
	e.t.Helper()
	for _, l := range e.seen {
		if l.who == who && strings.HasPrefix(l.line, "lost ") {
			return
		}
	}
	for {
		if l := e.read("lost"); l.who == who && strings.HasPrefix(l.line, "lost ") {
			return
		}
	}
}

func (e *election) stop() {
	for _, p := range e.procs {
		p.stop(e.t)
	}
}

// TestParkElection: 5 candidates stand for one group; the leader is
// killed (-9), then the next one is paused (SIGSTOP) past its lease and
// resumed. Each leader logs the times it led (taken before checking its
// leadership is valid): no two leaders' times overlap, and the paused one
// says it lost as it resumes.
func TestParkElection(t *testing.T) {
	url := startPark(t)
	log := filepath.Join(t.TempDir(), "leaders.log")
	e := stand(t, []string{url, url, url, url, url}, "1s", log)
	first := e.next()
	killed := time.Now()
	_ = e.procs[first].cmd.Process.Signal(syscall.SIGKILL)
	second := e.next(first)
	t.Logf("leader killed: a new one %v after (lease 1s)", time.Since(killed).Round(time.Millisecond))
	stopped := time.Now()
	if err := e.procs[second].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	e.next(first, second)
	t.Logf("leader paused: a new one %v after", time.Since(stopped).Round(time.Millisecond))
	_ = e.procs[second].cmd.Process.Signal(syscall.SIGCONT)
	e.lost(second)
	e.stop()
	checkLeaders(t, log, 3)
}

// TestClusterParkElection: 6 candidates, two on each server of a 3-server
// park cluster (each given that server's URL). The server of the leader
// is killed (-9): the group leads again (the leader's client fails over
// to another server within its lease, as NATS clients learn the cluster's
// servers, or another candidate is elected), and the server restarts on
// its store. Then each server in turn is paused (SIGSTOP) for a while, a
// partition: its clients are cut off (they do not fail over before their
// pings go unanswered), so a leader among them loses its lease and
// another leads. One server at a time is out: the next is paused once the
// cluster has healed (a server that has not caught up is out too, and two
// of three out leave no quorum). No two leaders' times ever overlap.
func TestClusterParkElection(t *testing.T) {
	parks, _ := startCluster(t, 3)
	log := filepath.Join(t.TempDir(), "leaders.log")
	var urls []string
	for i := range 6 {
		urls = append(urls, parks[i%3].url)
	}
	e := stand(t, urls, "2s", log)
	first := e.next()
	cut := parks[first%3]
	killed := time.Now()
	_ = cut.p.cmd.Process.Signal(syscall.SIGKILL)
	<-cut.p.done
	t.Logf("the leader's park server killed: the group led again %v after", e.leadsAfter(log, killed))
	p, _, err := startProcWithin(2*time.Minute, t.TempDir(), "park server ready at ", "parkserver", cut.args...)
	if p != nil {
		t.Cleanup(func() { p.stop(t) })
	}
	if err != nil {
		t.Fatal(err)
	}
	cut.p = p
	t.Logf("park server %s restarted: the cluster healed %v after", cut.name, healed(t, parks).Round(time.Millisecond))
	for _, paused := range parks {
		stopped := time.Now()
		if err := paused.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Logf("park server %s paused: the group led again %v after", paused.name, e.leadsAfter(log, stopped))
		_ = paused.p.cmd.Process.Signal(syscall.SIGCONT)
		t.Logf("park server %s resumed: the cluster healed %v after", paused.name, healed(t, parks).Round(time.Millisecond))
	}
	e.stop()
	checkLeaders(t, log, 2)
}

// leadsAfter waits until a leader logs a time more than two leases (4 s)
// after t0, and returns how long after t0 it was.
func (e *election) leadsAfter(log string, t0 time.Time) time.Duration {
	t := e.t
	t.Helper()
	after := t0.Add(4 * time.Second)
	var at time.Time
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(log)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var tok uint64
		var ns int64
		if _, err := fmt.Sscan(lines[len(lines)-1], &tok, &ns); err == nil {
			if at = time.Unix(0, ns); at.After(after) {
				return at.Sub(t0).Round(time.Millisecond)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader after %s within a minute (the last led at %s; candidates said: %s)",
				after.Format(time.StampMilli), at.Format(time.StampMilli), e.said())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// said is what the candidates wrote to stderr last, for a failure's
// message.
func (e *election) said() string {
	var errs []string
	for i, p := range e.procs {
		if txt := p.errText(); txt != "" {
			errs = append(errs, fmt.Sprintf("candidate %d: %s", i, txt[max(0, len(txt)-2000):]))
		}
	}
	return strings.Join(errs, "; ")
}

// checkLeaders reads the leaders' log and checks that no two leaders' times
// overlap: each token's lines all come before the next token's.
func checkLeaders(t *testing.T, log string, atLeast int) {
	t.Helper()
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type span struct{ from, to int64 }
	spans := map[uint64]*span{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		var tok uint64
		var at int64
		if _, err := fmt.Sscan(s.Text(), &tok, &at); err != nil {
			t.Fatalf("log line %q: %v", s.Text(), err)
		}
		if sp, ok := spans[tok]; ok {
			sp.from, sp.to = min(sp.from, at), max(sp.to, at)
		} else {
			spans[tok] = &span{at, at}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	tokens := slices.Sorted(func(yield func(uint64) bool) {
		for k := range spans {
			if !yield(k) {
				return
			}
		}
	})
	if len(tokens) < atLeast {
		t.Fatalf("%d leaders logged, want at least %d", len(tokens), atLeast)
	}
	for i := 1; i < len(tokens); i++ {
		a, b := spans[tokens[i-1]], spans[tokens[i]]
		if a.to >= b.from {
			t.Fatalf("leader %d led until %d, after leader %d began at %d (%v overlap)", tokens[i-1], a.to, tokens[i], b.from, time.Duration(a.to-b.from))
		}
	}
	t.Logf("%d leaders, none overlapping", len(tokens))
}

// TestParkConfigAcrossRestart: a config watcher sees every value in order
// exactly once, across a kill (-9) and restart of the park on its store.
func TestParkConfigAcrossRestart(t *testing.T) {
	addr, store := parktest.FreeAddr(t), t.TempDir()
	const ready = "park server ready at "
	p, _ := start(t, ready, "parkserver", "-listen", addr, "-store", store)
	url := "nats://" + addr
	w, _ := start(t, "absent", "config", "-park", url, "-domain", "app", "db")
	c := parkClient(t, url)
	ctx := context.Background()
	set := func(v string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := c.Update(ctx, "app", "db", []byte(v))
			if errors.Is(err, park.ErrNotFound) {
				_, err = c.Create(ctx, "app", "db", []byte(v))
			}
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("set %s: %v", v, err)
			}
			time.Sleep(50 * time.Millisecond) // the park restarts
		}
	}
	want := []string{"value v1", "value v2", "value v3", "value v4"}
	set("v1")
	set("v2")
	if got := []string{waitLine(t, w, ""), waitLine(t, w, "")}; !slices.Equal(got, want[:2]) {
		t.Fatalf("before the restart the watcher printed %q, want %q", got, want[:2])
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	start(t, ready, "parkserver", "-listen", addr, "-store", store)
	restarted := time.Now()
	set("v3")
	set("v4")
	got := []string{waitLine(t, w, ""), waitLine(t, w, "")}
	t.Logf("park restarted: the watcher had v3 and v4 %v after", time.Since(restarted).Round(time.Millisecond))
	w.stop(t)
	for l := range w.lines {
		got = append(got, l)
	}
	if !slices.Equal(got, want[2:]) {
		t.Fatalf("after the restart the watcher printed %q, want %q", got, want[2:])
	}
}

// TestParkDomainPermissions: a member whose credential may write the
// domains "app" and lock:x only writes there (the server refuses the
// rest) and reads everywhere.
func TestParkDomainPermissions(t *testing.T) {
	url := startPark(t)
	var subjects []string
	for _, d := range []string{"app", park.LockDomain("x")} {
		s, err := park.DomainSubject(d)
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, s)
	}
	b, err := security.NewUser(authDir, security.RoleWorkman, "limited", security.ParkWrites(subjects...))
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "limited.creds")
	if err := os.WriteFile(creds, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := park.Dial(ctx, url, security.Config{Creds: creds}, park.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	admin := parkClient(t, url)
	if _, err := admin.Create(ctx, "other", "n", []byte("by admin")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, "app", "n", []byte("v")); err != nil {
		t.Fatalf("a write of a granted domain: %v", err)
	}
	l, err := c.Lock(ctx, "x")
	if err != nil {
		t.Fatalf("a granted lock: %v", err)
	}
	if err := l.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Get(ctx, "other", "n"); err != nil || string(n.Value) != "by admin" {
		t.Fatalf("a read of another domain: %v, %v", n, err)
	}
	t0 := time.Now()
	_, err = c.Update(ctx, "other", "n", []byte("by limited"))
	t.Logf("a write of another domain: %v (after %v)", err, time.Since(t0).Round(time.Millisecond))
	if !errors.Is(err, park.ErrPermission) {
		t.Fatalf("a write of another domain: %v, want a permissions violation", err)
	}
	// The server refuses it too: written past the client's check, on a
	// connection with the same credential, it is dropped.
	nc, err := wire.Connect(url, wire.ConnOptions{Security: security.Config{Creds: creds}, Member: "limited"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("$KV."+park.Bucket+".n.other.n", []byte("pby limited")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server has read the publish
		t.Fatal(err)
	}
	if n, err := admin.Get(ctx, "other", "n"); err != nil || string(n.Value) != "by admin" {
		t.Fatalf("the node after the refused writes: %v, %v", n, err)
	}
	lctx, lcancel := context.WithTimeout(ctx, 10*time.Second)
	defer lcancel()
	if _, err := c.Lock(lctx, "y"); !errors.Is(err, park.ErrPermission) {
		t.Fatalf("a lock not granted: %v, want a permissions violation", err)
	}
}
