package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

// Claim tests: foremen as processes of their own, workmen logging which
// foreman's task ran in their slots when (chaosworkman -tasklog).

// taskRun is a task as a workman's task log tells it; end is zero while it
// runs.
type taskRun struct {
	foreman    string
	lo         int64
	start, end time.Time
	result     string
}

// readTaskLog reads a chaosworkman task log: one run per task start, with
// its end if it ended.
func readTaskLog(t *testing.T, path string) []taskRun {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var runs []taskRun
	open := map[string]int{} // foreman lo start -> index in runs
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kind, fm, res string
		var lo, start, end int64
		switch strings.SplitN(s.Text(), " ", 2)[0] {
		case "start":
			if _, err := fmt.Sscan(s.Text(), &kind, &fm, &lo, &start); err != nil {
				t.Fatalf("%s: %q: %v", path, s.Text(), err)
			}
			open[fmt.Sprint(fm, lo, start)] = len(runs)
			runs = append(runs, taskRun{foreman: fm, lo: lo, start: time.Unix(0, start)})
		case "end":
			fields := strings.SplitN(s.Text(), " ", 6)
			if len(fields) != 6 {
				t.Fatalf("%s: %q", path, s.Text())
			}
			if _, err := fmt.Sscan(strings.Join(fields[:5], " "), &kind, &fm, &lo, &start, &end); err != nil {
				t.Fatalf("%s: %q: %v", path, s.Text(), err)
			}
			res = fields[5]
			i, ok := open[fmt.Sprint(fm, lo, start)]
			if !ok {
				t.Fatalf("%s: an end with no start: %q", path, s.Text())
			}
			runs[i].end, runs[i].result = time.Unix(0, end), res
		default:
			t.Fatalf("%s: %q", path, s.Text())
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return runs
}

// checkExclusive fails the test if, on one workman, tasks of two foremen
// ran at the same moment, or more than capacity tasks ran at once: every
// foreman in these tests claims whole workers, so two foremen on one
// workman at once means one used slots it did not hold.
func checkExclusive(t *testing.T, workman string, runs []taskRun, capacity int) {
	t.Helper()
	type event struct {
		at    time.Time
		delta int
		run   taskRun
	}
	var events []event
	for _, r := range runs {
		if r.end.IsZero() {
			t.Fatalf("workman %s: task %d of %s never ended", workman, r.lo, r.foreman)
		}
		events = append(events, event{r.start, 1, r}, event{r.end, -1, r})
	}
	// Ends before starts at the same instant.
	slices.SortFunc(events, func(a, b event) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	running := map[string]int{}
	total := 0
	for _, e := range events {
		running[e.run.foreman] += e.delta
		total += e.delta
		if running[e.run.foreman] == 0 {
			delete(running, e.run.foreman)
		}
		if len(running) > 1 || total > capacity {
			t.Fatalf("workman %s at %s: tasks running by foreman %v, %d at once (capacity %d)",
				workman, e.at.Format("15:04:05.000000"), running, total, capacity)
		}
	}
}

// waitLine waits up to a minute for a stdout line of p containing s.
func waitLine(t *testing.T, p *proc, s string) string {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				t.Fatalf("%s exited (%v) before printing %q: %s", p.cmd.Path, p.cmd.ProcessState, s, p.errText())
			}
			if strings.Contains(l, s) {
				return l
			}
		case <-deadline:
			t.Fatalf("%s did not print %q in a minute: %s", p.cmd.Path, s, p.errText())
		}
	}
}

// TestClaimsAcrossParkRestart: foreman A runs a job on two workmen; the
// park is killed (-9) and restarted on its store; foreman B, started right
// after, wants the same workmen. B gets them only once A is done: at no
// moment do tasks of both run on one workman, and both jobs are exact.
func TestClaimsAcrossParkRestart(t *testing.T) {
	addr, store := parktest.FreeAddr(t), t.TempDir()
	const ready = "park server ready at "
	park, _ := start(t, ready, "parkserver", "-listen", addr, "-store", store)
	url := "nats://" + addr
	logs := t.TempDir()
	for i := range 2 {
		start(t, " ready", "chaosworkman", "-park", url, "-id", fmt.Sprintf("w%d", i), "-type", "echo",
			"-capacity", "2", "-tasklog", filepath.Join(logs, fmt.Sprintf("w%d", i)))
	}
	// 240 tasks of 25 ms on 4 slots: about 1.5 s of work.
	a, _ := start(t, "foreman A claimed 2", "chaosforeman", "-park", url, "-id", "A", "-workers", "2", "-tasks", "240", "-sleep-ms", "25")
	_ = park.cmd.Process.Kill()
	<-park.done
	start(t, ready, "parkserver", "-listen", addr, "-store", store)
	restarted := time.Now()
	b, claimedB := start(t, "foreman B claimed 2", "chaosforeman", "-park", url, "-id", "B", "-workers", "2", "-tasks", "40", "-sleep-ms", "25")
	claimedAfter := time.Since(restarted)
	doneA := waitLine(t, a, "foreman A done 240")
	doneB := waitLine(t, b, "foreman B done 40")
	t.Logf("%s; %s %v after the restart; %s", doneA, claimedB, claimedAfter.Round(time.Millisecond), doneB)
	ran := map[string]int{}
	for i := range 2 {
		id := fmt.Sprintf("w%d", i)
		runs := readTaskLog(t, filepath.Join(logs, id))
		checkExclusive(t, id, runs, 2)
		for _, r := range runs {
			ran[r.foreman]++
		}
	}
	if ran["A"] < 240 || ran["B"] < 40 {
		t.Fatalf("the workmen ran %v tasks, want at least 240 of A and 40 of B", ran)
	}
}

// TestKilledForemansTasksAreCancelled: foreman A (a process) runs two
// tasks of a minute on a capacity-2 workman and is killed (-9). Foreman B
// claims the workman once A's lease is over, and its short tasks run at
// once: the workman cancelled A's orphaned tasks instead of letting them
// hold the slots for their minute.
func TestKilledForemansTasksAreCancelled(t *testing.T) {
	url := startPark(t)
	tasklog := filepath.Join(t.TempDir(), "w0")
	start(t, " ready", "chaosworkman", "-park", url, "-id", "w0", "-type", "echo", "-capacity", "2", "-tasklog", tasklog)
	killedAfter := time.Now()
	a, _ := start(t, "foreman A claimed 1", "chaosforeman", "-park", url, "-id", "A", "-workers", "1", "-tasks", "2", "-sleep-ms", "60000")
	for poll := time.NewTicker(10 * time.Millisecond); len(readTaskLog(t, tasklog)) < 2; <-poll.C {
		if time.Since(killedAfter) > time.Minute {
			t.Fatal("A's two tasks did not start in a minute")
		}
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	killed := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := foreman.Dial(ctx, url, foremanConfig("B"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ws, err := f.WaitWorkers(ctx, "echo", 1)
	if err != nil || len(ws) != 1 || ws[0].Slots != 2 {
		t.Fatalf("WaitWorkers = %v, %v; want the workman's 2 slots", ws, err)
	}
	claimed := time.Since(killed)
	split := splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		return splitter.IntRange(0, 4, 1).Split(ctx, func(w *warehouse.Warehouse) error {
			w.SetString("foreman", "B")
			w.SetInt64("sleep_ms", 100)
			return emit(w)
		})
	})
	var tasks []int64
	collect := combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		lo, _ := r.Int64("lo")
		tasks = append(tasks, lo)
		return acc, nil
	})
	if _, err := f.Run(ctx, ws, split, collect); err != nil {
		t.Fatal(err)
	}
	done := time.Since(killed)
	slices.Sort(tasks)
	if !slices.Equal(tasks, []int64{0, 1, 2, 3}) {
		t.Fatalf("B's results for tasks %v, want 0 1 2 3 once each", tasks)
	}
	runs := readTaskLog(t, tasklog)
	checkExclusive(t, "w0", runs, 2)
	for _, r := range runs {
		if r.foreman == "A" && r.result != "workman: the foreman's claim on this worker is gone" {
			t.Fatalf("A's task %d ended %q, want it cancelled as an orphan", r.lo, r.result)
		}
	}
	lease := registry.DefaultLease
	t.Logf("A killed with 2 tasks of a minute running; B claimed the slots %v later and its 4 tasks of 100 ms were done %v after the kill (lease %v)",
		claimed.Round(time.Millisecond), done.Round(time.Millisecond), lease)
}
