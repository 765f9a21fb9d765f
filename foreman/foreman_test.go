package foreman_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"go.uber.org/goleak"
)

// square returns n*n under "sq" and a one-element list under "ns"; n == 13
// fails and n == 666 panics.
var square = workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	n, ok := in.Int64("n")
	if !ok {
		return nil, errors.New("no n")
	}
	switch n {
	case 13:
		return nil, errors.New("unlucky 13")
	case 666:
		panic("the beast")
	}
	out := warehouse.New()
	out.SetInt64("sq", n*n)
	out.SetInt64s("ns", []int64{n})
	return out, nil
})

func numbers(ns ...int64) splitter.Splitter {
	return splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		for _, n := range ns {
			w := warehouse.New()
			w.SetInt64("n", n)
			if err := emit(w); err != nil {
				return err
			}
		}
		return nil
	})
}

func seq(lo, hi int64) []int64 {
	var ns []int64
	for n := lo; n < hi; n++ {
		ns = append(ns, n)
	}
	return ns
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	for _, mode := range []string{workman.ModeMesh, workman.ModeHub} {
		t.Run(mode, func(t *testing.T) {
			c := parktest.Start(t, 2, workman.Config{Type: "square", Mode: mode}, square)
			f := parktest.NewForeman(t, c.URL, foreman.Config{})
			ctx := context.Background()
			ws, err := f.GetWaitingWorkers(ctx, "square", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != 2 || ws[0].Slots != 2 || ws[1].Slots != 2 {
				t.Fatalf("got %d workers %v, want 2 with 2 slots each", len(ws), ws)
			}
			// 200 tasks on 4 slots.
			ns := seq(14, 214)
			got, err := f.Run(ctx, ws, numbers(ns...), combiner.Chain(combiner.SumInt64("sq"), combiner.Concat("ns")))
			if err != nil {
				t.Fatal(err)
			}
			var want int64
			for _, n := range ns {
				want += n * n
			}
			if sq, _ := got.Int64("sq"); sq != want {
				t.Errorf("sum of squares = %d, want %d", sq, want)
			}
			seen := map[int64]int{}
			list, _ := got.Int64s("ns")
			for _, n := range list {
				seen[n]++
			}
			for _, n := range ns {
				if seen[n] != 1 {
					t.Errorf("task %d combined %d times", n, seen[n])
				}
			}
			if len(list) != len(ns) {
				t.Errorf("combined %d results, want %d", len(list), len(ns))
			}
		})
	}
}

func TestRunExceptions(t *testing.T) {
	c := parktest.Start(t, 2, workman.Config{Type: "square"}, square)
	f := parktest.NewForeman(t, c.URL, foreman.Config{})
	ctx := context.Background()
	ws, err := f.GetWaitingWorkers(ctx, "square", 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ns   []int64
		task int
		msg  string
	}{
		{"error", []int64{1, 2, 13}, 2, "unlucky 13"},
		{"panic", []int64{666, 1}, 0, "DoTask panicked: the beast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Run(ctx, ws, numbers(tt.ns...), combiner.SumInt64("sq"))
			var te *foreman.TaskError
			if !errors.As(err, &te) {
				t.Fatalf("Run error = %v, want a *TaskError", err)
			}
			if te.Task != tt.task || te.Msg != tt.msg {
				t.Fatalf("TaskError = task %d %q, want task %d %q", te.Task, te.Msg, tt.task, tt.msg)
			}
		})
	}
	// The workmen survived the panic and still serve.
	got, err := f.Run(ctx, ws, numbers(3, 4), combiner.SumInt64("sq"))
	if err != nil {
		t.Fatal(err)
	}
	if sq, _ := got.Int64("sq"); sq != 25 {
		t.Fatalf("after the panic: sum = %d, want 25", sq)
	}
}

func TestDoTaskAndBatch(t *testing.T) {
	c := parktest.Start(t, 3, workman.Config{Type: "square", Mode: workman.ModeHub}, square)
	f := parktest.NewForeman(t, c.URL, foreman.Config{})
	ctx := context.Background()
	ws := parktest.Claim(t, f, "square", 3)
	in := warehouse.New()
	in.SetInt64("n", 9)
	r := ws[0].DoTask(ctx, in)
	out, err := r.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sq, _ := out.Int64("sq"); sq != 81 || !r.Ready() {
		t.Fatalf("DoTask = %d (ready %v), want 81", sq, r.Ready())
	}
	outs, err := f.DoTaskBatch(ctx, ws, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if sq, _ := o.Int64("sq"); sq != 81 {
			t.Errorf("batch result %d = %d, want 81", i, sq)
		}
	}
	in.SetInt64("n", 13)
	r = ws[1].DoTask(ctx, in)
	out, err = r.Wait(ctx)
	var te *foreman.TaskError
	if !errors.As(err, &te) || te.Msg != "unlucky 13" || out.Status() != warehouse.StatusException || r.Ready() {
		t.Fatalf("exception: out %v, err %v, ready %v", out, err, r.Ready())
	}
}

// TestDoTasks: each worker gets its own task and the results come in the
// order of the workers; when one task fails, the others (blocked, as a
// team's workers waiting for a lost peer would be) are cancelled on their
// workers and DoTasks returns the failure.
func TestDoTasks(t *testing.T) {
	started, cancelled := make(chan struct{}, 3), make(chan struct{}, 3)
	team := workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		n, _ := in.Int64("n")
		switch n {
		case -1:
			// Fail once the others run: a cancellation that comes before
			// a task runs drops the task, which then never starts.
			for range 2 {
				<-started
			}
			return nil, errors.New("lost my peer")
		case 0:
			started <- struct{}{}
			<-ctx.Done()
			cancelled <- struct{}{}
			return nil, ctx.Err()
		}
		out := warehouse.New()
		out.SetInt64("twice", 2*n)
		return out, nil
	})
	c := parktest.Start(t, 3, workman.Config{Type: "team", Capacity: 1}, team)
	f := parktest.NewForeman(t, c.URL, foreman.Config{})
	ws := parktest.Claim(t, f, "team", 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tasks := func(ns ...int64) []*warehouse.Warehouse {
		var ins []*warehouse.Warehouse
		for _, n := range ns {
			in := warehouse.New()
			in.SetInt64("n", n)
			ins = append(ins, in)
		}
		return ins
	}
	outs, err := f.DoTasks(ctx, ws, tasks(1, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if v, _ := o.Int64("twice"); v != 2*int64(i+1) {
			t.Fatalf("result %d = %d, want %d", i, v, 2*(i+1))
		}
	}
	_, err = f.DoTasks(ctx, ws, tasks(0, -1, 0))
	var te *foreman.TaskError
	if !errors.As(err, &te) || te.Msg != "lost my peer" {
		t.Fatalf("a failed task: %v, want its TaskError", err)
	}
	for range 2 {
		<-cancelled // both blocked tasks were cancelled on their workers
	}
	if _, err := f.DoTasks(ctx, ws, tasks(1)); err == nil {
		t.Fatal("1 task for 3 workers: no error")
	}
}

func TestClaimsAreExclusive(t *testing.T) {
	c := parktest.Start(t, 2, workman.Config{Type: "square", Capacity: 3}, square)
	f1 := parktest.NewForeman(t, c.URL, foreman.Config{})
	f2 := parktest.NewForeman(t, c.URL, foreman.Config{})
	ctx := context.Background()
	w1, err := f1.GetWaitingWorkers(ctx, "square", 1)
	if err != nil || len(w1) != 1 || w1[0].Slots != 3 {
		t.Fatalf("f1 got %v, %v; want one worker with 3 slots", w1, err)
	}
	w2, err := f2.GetWaitingWorkers(ctx, "square", 0)
	if err != nil || len(w2) != 1 || w2[0].ID == w1[0].ID {
		t.Fatalf("f2 got %v, %v; want the other worker", w2, err)
	}
	if more, err := f1.GetWaitingWorkers(ctx, "square", 0); err != nil || len(more) != 0 {
		t.Fatalf("f1 got %v, %v after all were claimed; want none", more, err)
	}
	f1.Release(ctx, w1...)
	again, err := f2.GetWaitingWorkers(ctx, "square", 0)
	if err != nil || len(again) != 1 || again[0].ID != w1[0].ID {
		t.Fatalf("after release f2 got %v, %v; want %s", again, err, w1[0].ID)
	}
	if _, err := f2.GetWaitingWorkers(ctx, "nosuchtype", 0); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := f1.WaitWorkers(wctx, "nosuchtype", 1); !errors.Is(err, foreman.ErrNoWorkers) {
		t.Fatalf("WaitWorkers for a missing type = %v, want ErrNoWorkers", err)
	}
}

// TestClaimsInWaves claims more workers than are claimed at once: the
// foreman gets exactly as many as it asked for, and two foremen claiming
// at the same time never get the same one.
func TestClaimsInWaves(t *testing.T) {
	const n = 40
	c := parktest.Start(t, n, workman.Config{Type: "square", Mode: workman.ModeHub, Capacity: 1}, square)
	f1 := parktest.NewForeman(t, c.URL, foreman.Config{})
	f2 := parktest.NewForeman(t, c.URL, foreman.Config{})
	ctx := context.Background()
	w1, err := f1.GetWaitingWorkers(ctx, "square", 35)
	if err != nil || len(w1) != 35 {
		t.Fatalf("f1 got %d workers, %v; want 35", len(w1), err)
	}
	w2, err := f2.GetWaitingWorkers(ctx, "square", 0)
	if err != nil || len(w2) != n-35 {
		t.Fatalf("f2 got %d workers, %v; want the other %d", len(w2), err, n-35)
	}
	distinct(t, n, w1, w2)
	f1.Release(ctx, w1...)
	f2.Release(ctx, w2...)
	var a, b []*foreman.Workman
	var errA, errB error
	done := make(chan struct{})
	go func() {
		defer close(done)
		a, errA = f1.GetWaitingWorkers(ctx, "square", 0)
	}()
	b, errB = f2.GetWaitingWorkers(ctx, "square", 0)
	<-done
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	distinct(t, n, a, b)
}

// distinct fails unless the workers are n different ones.
func distinct(t *testing.T, n int, sets ...[]*foreman.Workman) {
	t.Helper()
	seen := map[string]bool{}
	for _, ws := range sets {
		for _, w := range ws {
			if seen[w.ID] {
				t.Fatalf("worker %s claimed twice", w.ID)
			}
			seen[w.ID] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("%d workers claimed, want %d", len(seen), n)
	}
}

func TestBigWarehouse(t *testing.T) {
	echo := workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		return in, nil
	})
	for _, mode := range []string{workman.ModeMesh, workman.ModeHub} {
		t.Run(mode, func(t *testing.T) {
			// A limit of 8 MiB on both sides (the 64 MiB default is
			// e2e's TestHubBigResults'): 8 chunks of the server's 1 MiB.
			const limit = 8 << 20
			c := parktest.Start(t, 1, workman.Config{Type: "echo", Mode: mode, MaxWarehouseSize: limit}, echo)
			f := parktest.NewForeman(t, c.URL, foreman.Config{MaxWarehouseSize: limit})
			ctx := context.Background()
			ws := parktest.Claim(t, f, "echo", 1)
			// Just under the limit: crosses in chunks and comes back whole.
			data := make([]byte, limit-64)
			for i := range data {
				data[i] = byte(i * 7)
			}
			in := warehouse.New()
			in.SetBytes("data", data)
			out, err := ws[0].DoTask(ctx, in).Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := out.Bytes("data")
			if len(got) != len(data) || string(got) != string(data) {
				t.Fatalf("echoed %d bytes, want the same %d bytes", len(got), len(data))
			}
			// Over the limit: a clear error naming size and limit.
			in.SetBytes("data", make([]byte, limit))
			_, err = ws[0].DoTask(ctx, in).Wait(ctx)
			if !errors.Is(err, warehouse.ErrTooLarge) || !strings.Contains(err.Error(), "exceeds the limit of 8388608 bytes") {
				t.Fatalf("oversized DoTask error = %v", err)
			}
		})
	}
}

func TestMeshListenerNeedsToken(t *testing.T) {
	c := parktest.Start(t, 1, workman.Config{Type: "square", Security: security.Config{Token: "s3cret"}}, square)
	// The park itself has no token here; the worker's own listener does.
	f := parktest.NewForeman(t, c.URL, foreman.Config{Security: security.Config{Token: "wrong"}})
	ctx := context.Background()
	ws := parktest.Claim(t, f, "square", 1)
	in := warehouse.New()
	in.SetInt64("n", 2)
	if _, err := ws[0].DoTask(ctx, in).Wait(ctx); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		t.Fatalf("DoTask with a wrong token = %v, want an authorization error", err)
	}
	good := parktest.NewForeman(t, c.URL, foreman.Config{Security: security.Config{Token: "s3cret"}})
	f.Release(ctx, ws...)
	ws = parktest.Claim(t, good, "square", 1)
	out, err := ws[0].DoTask(ctx, in).Wait(ctx)
	if sq, _ := out.Int64("sq"); err != nil || sq != 4 {
		t.Fatalf("DoTask with the token = %v, %v", out, err)
	}
}

// A foreman's id is checked before anything uses it: one message naming
// the rule, never a transport error.
func TestBadID(t *testing.T) {
	for _, id := range []string{"a b.c*", ">", strings.Repeat("f", 129), "\xff"} {
		_, err := foreman.Dial(context.Background(), "nats://127.0.0.1:1", foreman.Config{ID: id})
		if err == nil || !strings.Contains(err.Error(), "use letters, digits, '-' and '_', at most 128") {
			t.Errorf("Dial with id %q = %v, want the rule", id, err)
		}
	}
}
