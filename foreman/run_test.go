package foreman_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// rangeSum sums lo..hi-1 of an IntRange task under "sum" and counts the
// task under "tasks"; hooks may fail, block or record first.
type rangeSum struct {
	mu    sync.Mutex // guards seen
	seen  map[int64]int
	hook  func(ctx context.Context, lo int64, attempt int) error
	calls atomic.Int64
}

func (r *rangeSum) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	r.calls.Add(1)
	lo, _ := in.Int64(splitter.KeyLo)
	hi, _ := in.Int64(splitter.KeyHi)
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[int64]int{}
	}
	r.seen[lo]++
	attempt := r.seen[lo]
	r.mu.Unlock()
	if r.hook != nil {
		if err := r.hook(ctx, lo, attempt); err != nil {
			return nil, err
		}
	}
	var sum int64
	for n := lo; n < hi; n++ {
		sum += n
	}
	out := warehouse.New()
	out.SetInt64("sum", sum)
	out.SetInt64("tasks", 1)
	out.SetInt64s("los", []int64{lo})
	return out, nil
}

func (r *rangeSum) Receive(context.Context, workman.Peer, *warehouse.Warehouse) error { return nil }

var sumAll = combiner.Chain(combiner.SumInt64("sum"), combiner.SumInt64("tasks"), combiner.Concat("los"))

// checkSum asserts the exact result of summing [0, n) in tasks of step:
// the sum, and every task combined exactly once.
func checkSum(t *testing.T, got *warehouse.Warehouse, n, step int64) {
	t.Helper()
	sum, _ := got.Int64("sum")
	tasks, _ := got.Int64("tasks")
	los, _ := got.Int64s("los")
	wantTasks := (n + step - 1) / step
	if sum != n*(n-1)/2 || tasks != wantTasks {
		t.Fatalf("sum %d over %d tasks, want %d over %d", sum, tasks, n*(n-1)/2, wantTasks)
	}
	seen := map[int64]bool{}
	for _, lo := range los {
		if seen[lo] || lo%step != 0 {
			t.Fatalf("task at %d combined twice or unknown", lo)
		}
		seen[lo] = true
	}
}

func startSum(t *testing.T, n int, w workman.Worker) (*foreman.Foreman, []*foreman.Workman) {
	t.Helper()
	c := parktest.Start(t, n, workman.Config{Type: "sum"}, w)
	f := parktest.NewForeman(t, c.URL, foreman.Config{})
	ws := parktest.Claim(t, f, "sum", n)
	return f, ws
}

func TestRetriesAndContinueOnError(t *testing.T) {
	// The task at 300 (mod 1000) fails on its first attempt, the one at 500
	// on every attempt. The two runs use different ranges, so a task the
	// first run left behind on a worker cannot count for the second.
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		if (lo%1000 == 300 && attempt == 1) || lo%1000 == 500 {
			return errors.New("flaky")
		}
		return nil
	}}
	f, ws := startSum(t, 2, w)
	ctx := context.Background()

	_, err := f.Run(ctx, ws, splitter.IntRange(0, 1000, 100), sumAll)
	var te *foreman.TaskError
	if !errors.As(err, &te) || te.Msg != "flaky" {
		t.Fatalf("no retries: %v, want the flaky TaskError", err)
	}

	got, err := f.Run(ctx, ws, splitter.IntRange(1000, 2000, 100), sumAll, foreman.Retries(2), foreman.ContinueOnError())
	var je *foreman.JobError
	if !errors.As(err, &je) || len(je.Failed) != 1 || je.Failed[0].Task != 5 || je.Failed[0].Msg != "flaky" {
		t.Fatalf("ContinueOnError: %v, want one failed task, number 5", err)
	}
	sum, _ := got.Int64("sum")
	if want := int64((1000+1999)*1000/2 - (1500+1599)*100/2); sum != want {
		t.Fatalf("sum without task 5 = %d, want %d", sum, want)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[1300] != 2 || w.seen[1500] != 3 {
		t.Fatalf("attempts: task 1300 ran %d times (want 2), task 1500 %d times (want 3)", w.seen[1300], w.seen[1500])
	}
}

func TestStopWhen(t *testing.T) {
	w := &rangeSum{}
	f, ws := startSum(t, 2, w)
	const key = 4321
	got, err := f.Run(context.Background(), ws, splitter.IntRange(0, 10_000_000, 10), sumAll,
		foreman.StopWhen(func(r *warehouse.Warehouse) bool {
			los, _ := r.Int64s("los")
			return los[0] <= key && key < los[0]+10
		}))
	if err != nil {
		t.Fatal(err)
	}
	los, _ := got.Int64s("los")
	if !containsRange(los, key) {
		t.Fatalf("result does not hold the range with %d", key)
	}
	if n := w.calls.Load(); n > 10_000 {
		t.Fatalf("%d tasks ran; the job did not stop early", n)
	}
}

func containsRange(los []int64, key int64) bool {
	for _, lo := range los {
		if lo <= key && key < lo+10 {
			return true
		}
	}
	return false
}

func TestCancelReachesWorkers(t *testing.T) {
	cancelled := make(chan time.Time, 16)
	started := make(chan struct{}, 16)
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		started <- struct{}{}
		<-ctx.Done()
		cancelled <- time.Now()
		return ctx.Err()
	}}
	f, ws := startSum(t, 2, w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.Run(ctx, ws, splitter.IntRange(0, 100, 10), sumAll)
		done <- err
	}()
	for range 4 { // all four slots busy
		<-started
	}
	at := time.Now()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	deadline := time.After(10 * time.Second)
	for range 4 {
		select {
		case c := <-cancelled:
			t.Logf("a worker saw the cancel %v after it", c.Sub(at))
		case <-deadline:
			t.Fatal("a running task's context was not cancelled on its worker")
		}
	}
}

func TestTaskTimeoutMovesTheTask(t *testing.T) {
	// Task 30's first attempt hangs until cancelled.
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		if lo == 30 && attempt == 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	f, ws := startSum(t, 2, w)
	got, err := f.Run(context.Background(), ws, splitter.IntRange(0, 100, 10), sumAll,
		foreman.TaskTimeout(300*time.Millisecond), foreman.NoBackups())
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, got, 100, 10)
}

func TestBackupForAStraggler(t *testing.T) {
	// Task 70's first attempt hangs: only a backup finishes it.
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		if lo == 70 && attempt == 1 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	f, ws := startSum(t, 2, w)
	got, err := f.Run(context.Background(), ws, splitter.IntRange(0, 100, 10), sumAll)
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, got, 100, 10)
}

func TestWorkerLostMidJob(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{})
	victimCh := make(chan *workman.Workman, 1)
	var once sync.Once
	stopped := make(chan struct{})
	// The victim's tasks block until it is shut down mid-task.
	hang := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		once.Do(func() {
			go func() {
				sctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_ = (<-victimCh).Shutdown(sctx)
				close(stopped)
			}()
		})
		<-ctx.Done()
		return ctx.Err()
	}}
	victimCh <- parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "sum"}, hang)
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "sum"}, &rangeSum{})
	f := parktest.NewForeman(t, park.ClientURL(), foreman.Config{})
	ws := parktest.Claim(t, f, "sum", 2)
	got, err := f.Run(context.Background(), ws, splitter.IntRange(0, 1000, 10), sumAll, foreman.NoBackups())
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, got, 1000, 10)
	<-stopped
}

func TestJoiningWorkerIsUsed(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{})
	joined := make(chan struct{})
	var once sync.Once
	gate := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		// The first worker's tasks wait until the newcomer has run one.
		select {
		case <-joined:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "sum", Capacity: 1}, gate)
	f := parktest.NewForeman(t, park.ClientURL(), foreman.Config{})
	ws := parktest.Claim(t, f, "sum", 1)
	newcomer := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		once.Do(func() { close(joined) })
		return nil
	}}
	done := make(chan struct{})
	var got *warehouse.Warehouse
	var err error
	go func() {
		defer close(done)
		got, err = f.Run(context.Background(), ws, splitter.IntRange(0, 100, 10), sumAll, foreman.NoBackups())
	}()
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "sum"}, newcomer)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, got, 100, 10)
	if newcomer.calls.Load() == 0 {
		t.Fatal("the worker that joined ran no task")
	}
	// The run gave the newcomer back.
	again, err := f.GetWaitingWorkers(context.Background(), "sum", 0)
	if err != nil || len(again) != 1 {
		t.Fatalf("after the run: %d workers free, %v; want the newcomer", len(again), err)
	}
}

func TestWorkmanCapacityIsNeverExceeded(t *testing.T) {
	var running, peak atomic.Int64
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond) // hold the slot a little
		return nil
	}}
	c := parktest.Start(t, 1, workman.Config{Type: "sum", Capacity: 2}, w)
	f := parktest.NewForeman(t, c.URL, foreman.Config{})
	ctx := context.Background()
	ws := parktest.Claim(t, f, "sum", 1)
	// DoTask directly: 20 calls at once, past the claimed slots.
	var rs []*foreman.Result
	for i := range 20 {
		in := warehouse.New()
		in.SetInt64(splitter.KeyLo, int64(i*10))
		in.SetInt64(splitter.KeyHi, int64(i*10+10))
		rs = append(rs, ws[0].DoTask(ctx, in))
	}
	for _, r := range rs {
		if _, err := r.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrent tasks = %d, want the capacity, 2", p)
	}
}

func TestDeadForemanReleasesItsClaims(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{Lease: time.Second})
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "sum"}, &rangeSum{})
	ctx := context.Background()
	nc, err := nats.Connect(park.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	dead, err := foreman.New(ctx, nc, foreman.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dead.Close() })
	if ws, err := dead.GetWaitingWorkers(ctx, "sum", 1); err != nil || len(ws) != 1 {
		t.Fatal(len(ws), err)
	}
	alive := parktest.NewForeman(t, park.ClientURL(), foreman.Config{})
	if ws, err := alive.GetWaitingWorkers(ctx, "sum", 1); err != nil || len(ws) != 0 {
		t.Fatalf("a claimed worker was handed out again: %d, %v", len(ws), err)
	}
	// The foreman "dies": its connection goes, with no release and no
	// more heartbeats.
	nc.Close()
	died := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, err := alive.WaitWorkers(wctx, "sum", 1)
	if err != nil || len(ws) != 1 {
		t.Fatalf("the dead foreman's worker was not freed: %d, %v", len(ws), err)
	}
	t.Logf("claims of a dead foreman freed %v after it died (lease 1s)", time.Since(died).Round(time.Millisecond))
}

// TestBusyWorkerIsAFullSlot: a worker whose request budget is full refuses
// tasks as busy; Run waits and sends them again, losing nothing, counting
// no worker lost and no task reassigned. Tasks of 100 KiB go one by one,
// tasks of 1 KiB in batches, whose calls are refused each on its own.
func TestBusyWorkerIsAFullSlot(t *testing.T) {
	for _, pad := range []int{100 << 10, 1 << 10} {
		t.Run(fmt.Sprintf("%d bytes", pad), func(t *testing.T) { testBusyWorker(t, pad) })
	}
}

func testBusyWorker(t *testing.T, pad int) {
	reg := prometheus.NewRegistry()
	refused := func() bool {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != "fourinone_foreman_task_attempts_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "outcome" && l.GetValue() == "busy" && m.GetCounter().GetValue() > 0 {
						return true
					}
				}
			}
		}
		return false
	}
	// The first tasks hold the budget until the foreman has had a task
	// refused as busy.
	var held atomic.Int32
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		if held.Add(1) > 2 {
			return nil
		}
		for !refused() && ctx.Err() == nil {
			time.Sleep(time.Millisecond) // a counter to watch: no event to wait on
		}
		return ctx.Err()
	}}
	// Four slots, but room for two tasks' bodies.
	c := parktest.Start(t, 1, workman.Config{Type: "sum", Capacity: 4, Budget: int64(2 * (pad + 1024 + wire.RequestOverhead))}, w)
	f := parktest.NewForeman(t, c.URL, foreman.Config{Metrics: reg})
	ws := parktest.Claim(t, f, "sum", 1)
	padded := splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		return splitter.IntRange(0, 4000, 100).Split(ctx, func(w *warehouse.Warehouse) error {
			w.SetBytes("pad", make([]byte, pad))
			return emit(w)
		})
	})
	var st foreman.RunStats
	got, err := f.Run(context.Background(), ws, padded, sumAll, foreman.Stats(&st))
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, got, 4000, 100)
	if st.Busy == 0 || st.Reassigned != 0 || st.LostWorkers != 0 {
		t.Fatalf("stats %+v: want busy refusals, no task reassigned, no worker lost", st)
	}
}

// TestClaimTheft: a rogue client gives one worker's slots to another
// foreman in the registry. The foreman notices at its next refresh, sends
// that worker nothing more, the worker cancels the foreman's running tasks,
// and the job completes exactly on the other worker.
func TestClaimTheft(t *testing.T) {
	var mu sync.Mutex
	cancelled := 0
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		select {
		case <-time.After(200 * time.Millisecond):
			return nil
		case <-ctx.Done():
			mu.Lock()
			cancelled++
			mu.Unlock()
			return ctx.Err()
		}
	}}
	p := parktest.StartPark(t, parkserver.Config{Lease: 600 * time.Millisecond})
	victim := parktest.StartWorkman(t, p.ClientURL(), workman.Config{Type: "sum"}, w)
	parktest.StartWorkman(t, p.ClientURL(), workman.Config{Type: "sum"}, w)
	f := parktest.NewForeman(t, p.ClientURL(), foreman.Config{})
	ws := parktest.Claim(t, f, "sum", 2)

	nc, err := nats.Connect(p.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg, err := registry.Open(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	thief := registry.Member{ID: "thief", Role: registry.RoleForeman, State: registry.StateWaiting, Started: time.Now()}
	if err := reg.Put(ctx, &thief); err != nil {
		t.Fatal(err)
	}
	hb := make(chan struct{})
	go func() {
		defer close(hb)
		reg.Heartbeat(ctx, func() registry.Member { return thief }, zap.NewNop(), nil)
	}()
	defer func() { cancel(); <-hb }()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, registry.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	steal := combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		if tasks, _ := acc.Int64("tasks"); tasks == 0 { // at the first result
			if _, err := kv.Put(ctx, "claim."+victim.ID(), []byte(`{"thief":2}`)); err != nil {
				return nil, err
			}
		}
		return sumAll.Combine(acc, r)
	})
	var st foreman.RunStats
	got, err := f.Run(context.Background(), ws, splitter.IntRange(0, 4000, 100), steal, foreman.Stats(&st), foreman.NoJoin())
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, got, 4000, 100)
	if st.LostWorkers != 1 {
		t.Fatalf("stats %+v: want the robbed worker lost", st)
	}
	t.Logf("stats %+v, %d tasks cancelled on the robbed worker", st, cancelled)
}

// TestParkWaitsAreBounded: a task whose attempts the park link keeps
// cutting (here the park restarts each time the task starts) fails the job
// with a clear error after a bounded number of re-runs, instead of waiting
// and re-running forever.
func TestParkWaitsAreBounded(t *testing.T) {
	started := make(chan struct{}, 1)
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		started <- struct{}{}
		<-ctx.Done() // until the workman shuts down
		return ctx.Err()
	}}
	dir := t.TempDir()
	p := parktest.StartPark(t, parkserver.Config{StoreDir: dir})
	url := p.ClientURL()
	parktest.StartWorkman(t, url, workman.Config{Type: "sum", Mode: workman.ModeHub, Capacity: 20}, w)
	f := parktest.NewForeman(t, url, foreman.Config{})
	ws := parktest.Claim(t, f, "sum", 1)
	var st foreman.RunStats
	done := make(chan error, 1)
	go func() {
		_, err := f.Run(context.Background(), ws, splitter.IntRange(0, 100, 100), sumAll, foreman.Stats(&st))
		done <- err
	}()
	listen := strings.TrimPrefix(url, "nats://")
	restarts := 0
	for {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "task 0 cut by the park link 11 times") {
				t.Fatalf("Run: %v, want task 0 cut by the park link 11 times", err)
			}
			if st.ParkWaits != 10 || restarts != 11 {
				t.Fatalf("stats %+v after %d park restarts: want 10 park waits, 11 restarts", st, restarts)
			}
			return
		case <-started:
			if restarts == 20 {
				t.Fatalf("the job still runs after %d park restarts (stats %+v)", restarts, st)
			}
			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			p = parktest.StartPark(t, parkserver.Config{Listen: listen, StoreDir: dir})
			restarts++
		}
	}
}

// TestTimeline: the job's timeline in the park holds each attempt of each
// task on its worker's slot, with how it ended: a task whose first attempt
// raised an exception has that attempt and its retry.
func TestTimeline(t *testing.T) {
	w := &rangeSum{hook: func(ctx context.Context, lo int64, attempt int) error {
		if lo == 10 && attempt == 1 {
			return errors.New("flaky")
		}
		return nil
	}}
	c := parktest.Start(t, 2, workman.Config{Type: "sum", Capacity: 2}, w)
	f := parktest.NewForeman(t, c.URL, foreman.Config{})
	ws := parktest.Claim(t, f, "sum", 2)
	var jobID string
	got, err := f.Run(context.Background(), ws, splitter.IntRange(0, 30, 10), sumAll, foreman.Retries(1),
		foreman.OnProgress(func(p foreman.Progress) { jobID = p.JobID }))
	if err != nil {
		t.Fatal(err)
	}
	checkSum(t, got, 30, 10)

	js := parktest.JetStream(t, c.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var tl *registry.Timeline
	for tl == nil { // the foreman's last write is on its way
		tl, err = registry.ReadTimeline(ctx, js, &registry.Job{ID: jobID, Foreman: f.ID()})
		if err != nil && ctx.Err() != nil {
			t.Fatal(err)
		}
		if tl != nil && tl.Recorded != 4 {
			tl = nil // an earlier write
		}
	}
	ids := map[string]bool{ws[0].ID: true, ws[1].ID: true}
	type key struct {
		task    int
		outcome registry.Outcome
		kind    registry.Kind
	}
	seen := map[key]int{}
	for _, a := range tl.Attempts {
		if !ids[tl.Workers[a.Worker]] || a.Slot < 0 || a.Slot > 1 || a.Started < a.Queued || a.Finished < a.Started {
			t.Fatalf("attempt %+v of workers %v: a worker not the job's, a slot past its capacity, or times out of order", a, tl.Workers)
		}
		seen[key{a.Task, a.Outcome, a.Kind}]++
	}
	want := map[key]int{
		{0, registry.Succeeded, registry.First}: 1,
		{1, registry.Exception, registry.First}: 1,
		{1, registry.Succeeded, registry.Retry}: 1,
		{2, registry.Succeeded, registry.First}: 1,
	}
	if len(tl.Attempts) != 4 || fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("attempts %v, want %v", seen, want)
	}
	if tl.Job != jobID || tl.Foreman != f.ID() {
		t.Fatalf("timeline of job %s by %s, want %s by %s", tl.Job, tl.Foreman, jobID, f.ID())
	}
}
