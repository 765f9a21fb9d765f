package e2e

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

// Chaos tests: real processes, a fault injected while a job runs, and the
// exact result checked. Each logs how long the job took past the fault.

func chaosWorkmen(t *testing.T, url string, n int, args ...string) []*proc {
	t.Helper()
	var ps []*proc
	for i := range n {
		p, _ := start(t, " ready", "chaosworkman", append([]string{"-park", url, "-id", fmt.Sprintf("w%d", i)}, args...)...)
		ps = append(ps, p)
	}
	return ps
}

func dialForeman(t *testing.T, url string, n int, typ string) (*foreman.Foreman, []*foreman.Workman) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := foreman.Dial(ctx, url, foremanConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	ws, err := f.WaitWorkers(ctx, typ, n)
	if err != nil || len(ws) != n {
		t.Fatalf("WaitWorkers = %d, %v; want %d", len(ws), err, n)
	}
	return f, ws
}

// sleepy makes every task of s take at least ms on its worker. It tells
// the size s tells.
func sleepy(s splitter.Splitter, ms int64) splitter.Splitter {
	slow := splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		return s.Split(ctx, func(w *warehouse.Warehouse) error {
			w.SetInt64("sleep_ms", ms)
			return emit(w)
		})
	})
	if sz, ok := s.(splitter.Sized); ok {
		return splitter.WithSize(slow, sz.Size())
	}
	return slow
}

// onFirst calls fault once, at the first result, then combines as c does.
func onFirst(c combiner.Combiner, fault func()) combiner.Combiner {
	var once sync.Once
	return combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		once.Do(fault)
		return c.Combine(acc, r)
	})
}

// taskBytes is the text of one countJob task: small, so that the tasks'
// time is their sleep and not counting under -race.
const taskBytes = 64 << 10

// countJob runs a word count of text on ws with fault injected at the
// first result, checks the exact counts, and returns how long the job ran
// after the fault.
func countJob(t *testing.T, f *foreman.Foreman, ws []*foreman.Workman, text string, fault func()) (time.Duration, foreman.RunStats) {
	t.Helper()
	want, err := wordcount.CountLocal(text)
	if err != nil {
		t.Fatal(err)
	}
	var faultAt time.Time
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stats foreman.RunStats
	res, err := f.Run(ctx, ws, sleepy(wordcount.Splitter([]string{text}, taskBytes, false), 25),
		onFirst(wordcount.Combiner(), func() { faultAt = time.Now(); fault() }), foreman.Stats(&stats))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Since(faultAt)
	got, _ := res.Counts(wordcount.KeyCounts)
	if !maps.Equal(got, want) {
		t.Fatalf("counts differ from a single-threaded count: %d distinct words, want %d", len(got), len(want))
	}
	t.Logf("run: %+v", stats)
	return after, stats
}

func TestChaosKillWorkman(t *testing.T) {
	url := startPark(t)
	ps := chaosWorkmen(t, url, 3)
	f, ws := dialForeman(t, url, 3, "wordcount")
	text := genText(t, 80*taskBytes) // 80 tasks
	after, stats := countJob(t, f, ws, text, func() {
		if err := ps[0].cmd.Process.Kill(); err != nil {
			t.Error(err)
		}
	})
	if stats.LostWorkers != 1 || stats.Reassigned < 1 {
		t.Errorf("stats %+v: want one lost worker and its tasks reassigned", stats)
	}
	t.Logf("kill -9 of a workman mid-job: the job finished %v after the kill, with the exact counts", after.Round(time.Millisecond))
}

func TestChaosStraggler(t *testing.T) {
	url := startPark(t)
	ps := chaosWorkmen(t, url, 2)
	f, ws := dialForeman(t, url, 2, "wordcount")
	text := genText(t, 40*taskBytes) // 40 tasks
	after, stats := countJob(t, f, ws, text, func() {
		if err := ps[0].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Error(err)
		}
	})
	if stats.Backups < 1 && stats.Reassigned < 1 {
		t.Errorf("stats %+v: the stopped worker's tasks were neither backed up nor reassigned", stats)
	}
	t.Logf("SIGSTOP of a workman mid-job: the job finished %v after the stop, with the exact counts", after.Round(time.Millisecond))
}

// TestChaosParkRestart kills the park server at the first result of a job
// and restarts it on the same address. In mesh mode the job goes on
// without it; in hub mode, where tasks travel through it, the job waits
// for it. Either way no task and no worker is lost, and everyone
// re-registers.
func TestChaosParkRestart(t *testing.T) {
	for _, mode := range []string{"mesh", "hub"} {
		t.Run(mode, func(t *testing.T) {
			addr, store := parktest.FreeAddr(t), t.TempDir()
			const ready = "park server ready at "
			park, _ := start(t, ready, "parkserver", "-listen", addr, "-store", store)
			url := "nats://" + addr
			chaosWorkmen(t, url, 2, "-mode", mode)
			f, ws := dialForeman(t, url, 2, "wordcount")
			text := genText(t, 100*taskBytes) // 100 tasks of 25ms+ each on 4 slots
			restarted := make(chan error, 1)
			errDir := t.TempDir()
			after, stats := countJob(t, f, ws, text, func() {
				_ = park.cmd.Process.Kill()
				go func() {
					<-park.done
					// The same address and store: members find it where it was.
					p, _, err := startProc(errDir, ready, "parkserver", "-listen", addr, "-store", store)
					if p != nil {
						t.Cleanup(func() { p.stop(t) })
					}
					restarted <- err
				}()
			})
			if err := <-restarted; err != nil {
				t.Fatal(err)
			}
			if stats.LostWorkers != 0 || stats.Reassigned != 0 {
				t.Errorf("stats %+v: the park's death cost workers or tasks", stats)
			}
			if mode == "hub" && stats.ParkWaits == 0 {
				t.Errorf("stats %+v: in hub mode the tasks in flight when the park died must have waited for it", stats)
			}
			t.Logf("kill -9 and restart of the park server mid-job (%s): the job finished %v after the kill, with the exact counts", mode, after.Round(time.Millisecond))
			waitReregistered(t, url, 2)
		})
	}
}

// waitReregistered waits until n workmen (w0..), the foreman and its claims
// (2 slots each) are back in the registry at url.
func waitReregistered(t *testing.T, url string, n int) {
	t.Helper()
	reg := openRegistry(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	back := time.Now()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		snap, err := reg.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		foremen := 0
		for _, m := range snap.Members {
			if m.Role == registry.RoleForeman {
				foremen++
			}
		}
		claimed := 0
		for i := range n {
			claimed += snap.Claimed(fmt.Sprintf("w%d", i))
		}
		if len(snap.Workmen("wordcount")) == n && foremen == 1 && claimed == 2*n {
			t.Logf("after the restart, %d workmen, the foreman and its %d claimed slots were back within %v of checking", n, claimed, time.Since(back).Round(time.Millisecond))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after the restart the registry holds %d workmen, %d foremen, claims %v; want %d, 1 and 2 each", len(snap.Workmen("")), foremen, snap.Claims, n)
		case <-poll.C:
		}
	}
}

func TestChaos100kNoopTasks(t *testing.T) {
	url := startPark(t)
	chaosWorkmen(t, url, 2, "-type", "echo")
	f, ws := dialForeman(t, url, 2, "echo")
	const n = 100_000
	seen := make([]uint8, n)
	count := combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		lo, ok := r.Int64("lo")
		if !ok || lo < 0 || lo >= n {
			return nil, fmt.Errorf("result without a task number: %v", r.Keys())
		}
		seen[lo]++
		return acc, nil
	})
	began := time.Now()
	if _, err := f.Run(context.Background(), ws, splitter.IntRange(0, n, 1), count); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("task %d combined %d times", i, c)
		}
	}
	t.Logf("%d no-op tasks on 2 workmen: each combined exactly once, in %v (%.0f tasks/s)", n, took.Round(time.Millisecond), n/took.Seconds())
}
