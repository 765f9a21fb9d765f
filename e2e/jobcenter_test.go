package e2e

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
)

// Job-center tests: the park, workmen and contractors as processes; Works
// submitted with the jobs command or a client.

func jobsClient(t *testing.T, url string) *jobcenter.Client {
	t.Helper()
	return openOnPark(t, url, jobcenter.New)
}

// center runs a fourinone command against the park at url (the job
// center's verbs: submit, wait, ...) and returns its output.
func center(t *testing.T, url string, args ...string) string {
	t.Helper()
	out, errOut, err := runCmd(t, "fourinone", append([]string{"-park", url}, args...)...)
	if err != nil {
		t.Fatalf("fourinone %v: %v: %s", args, err, errOut)
	}
	return out
}

func contractorProc(t *testing.T, url string, args ...string) *proc {
	t.Helper()
	p, _ := start(t, "contractor ", "contractor", append([]string{"-park", url}, args...)...)
	return p
}

// waitStatus polls a Work until cond holds for its record (a minute at
// most).
func waitStatus(t *testing.T, c *jobcenter.Client, id string, cond func(*jobcenter.Info) bool) *jobcenter.Info {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		info, err := c.Status(context.Background(), id)
		if err == nil && cond(info) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("work %s: %+v, %v: the awaited state never came", id, info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJobCenterContractorKilled: contractor A is killed (-9) while it runs
// a Work of three; contractor B takes it over after A's lease, and all
// three complete with the exact counts, each done once.
func TestJobCenterContractorKilled(t *testing.T) {
	url := startPark(t)
	chaosWorkmen(t, url, 2, "-type", "wordcount", "-sleep-ms", "300")
	c := jobsClient(t, url)
	const partSize = 128 << 10
	var ids, texts []string
	tasks := map[string]int64{}
	for i := range 3 {
		size := int64(2+i) << 20
		text := genText(t, size)
		texts = append(texts, text)
		id := strings.TrimSpace(center(t, url, "submit", "-type", "wordcount", "-part-size", strconv.Itoa(partSize), text))
		ids = append(ids, id)
		tasks[id] = (size + partSize - 1) / partSize
	}
	// A starts once the three wait, and is killed while it runs one with
	// three quarters of its tasks or more to go as of its record (whose
	// progress is at most Lease/3 old, about a round of tasks): killed as
	// a Work's last tasks end, A could record it done before the kill (it
	// did once, under load, when A started first).
	a := contractorProc(t, url, "-type", "wordcount", "-id", "A", "-lease", "1s")
	var running *jobcenter.Info
	for deadline := time.Now().Add(time.Minute); running == nil; time.Sleep(10 * time.Millisecond) {
		for _, id := range ids {
			info, err := c.Status(context.Background(), id)
			if err == nil && info.Status == jobcenter.Running && 4*info.Progress.Done <= tasks[id] {
				running = info
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("A ran none of the works with three quarters of its tasks to go within a minute")
		}
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	killed := time.Now()
	contractorProc(t, url, "-type", "wordcount", "-id", "B", "-lease", "1s")
	for i, id := range ids {
		got := center(t, url, "wait", id)
		if want := expected(t, texts[i]); got != want {
			t.Fatalf("work %s: counts differ from a single-threaded count", id)
		}
		info, err := c.Status(context.Background(), id)
		if err != nil || info.Status != jobcenter.Done {
			t.Fatalf("work %s: %+v, %v", id, info, err)
		}
		t.Logf("work %s: done by %s after %d attempts %q", id, info.Contractor, info.Attempts, info.Errors)
	}
	took, _ := c.Status(context.Background(), running.ID)
	if took.Contractor != "B" || took.Attempts != running.Attempts+1 || !strings.Contains(took.LastError(), "contractor A lost") {
		t.Fatalf("the work A ran: %+v; want it taken over by B", took)
	}
	t.Logf("all three done %v after the kill (lease 1s)", time.Since(killed).Round(time.Millisecond))
}

// TestJobCenterParkRestart: the park is killed (-9) with durable Works
// waiting and running, and restarted on its store: every Work completes,
// once, with the exact counts.
func TestJobCenterParkRestart(t *testing.T) {
	addr, store := parktest.FreeAddr(t), t.TempDir()
	const ready = "park server ready at "
	park, _ := start(t, ready, "parkserver", "-listen", addr, "-store", store)
	url := "nats://" + addr
	chaosWorkmen(t, url, 2, "-type", "wordcount", "-capacity", "4", "-sleep-ms", "10")
	contractor := contractorProc(t, url, "-type", "wordcount", "-concurrency", "4", "-workers", "1", "-lease", "2s")
	c := jobsClient(t, url)
	const works = 100
	want := submitCountWorks(t, c, works)
	waitStatus(t, c, "w10", func(i *jobcenter.Info) bool { return i.Status != jobcenter.Waiting })
	_ = park.cmd.Process.Kill()
	<-park.done
	start(t, ready, "parkserver", "-listen", addr, "-store", store)
	restarted := time.Now()
	again := waitCountWorks(t, c, works, want)
	t.Logf("%d works done, %d of them run again after the restart; all done %v after it", works, again, time.Since(restarted).Round(time.Millisecond))
	contractor.stop(t) // before the restarted park, whose cleanup comes first
}

// submitCountWorks submits n durable word-count Works w0, w1, ... of one
// text and returns the text's counts.
func submitCountWorks(t *testing.T, c *jobcenter.Client, n int) map[string]int64 {
	t.Helper()
	text := genText(t, 256<<10)
	want, err := wordcount.CountLocal(text)
	if err != nil {
		t.Fatal(err)
	}
	in, err := wordcount.WorkInput([]string{text}, 64<<10, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := c.Submit(context.Background(), jobcenter.Work{Type: "wordcount", ID: fmt.Sprint("w", i), Input: in, Durable: true}); err != nil {
			t.Fatal(err)
		}
	}
	return want
}

// waitCountWorks waits for the n Works of submitCountWorks, checks each is
// done with the exact counts, and returns how many ran more than once.
func waitCountWorks(t *testing.T, c *jobcenter.Client, n int, want map[string]int64) (again int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprint("w", i)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		out, err := c.Wait(wctx, id)
		cancel()
		if err != nil {
			t.Fatalf("work %s: %v", id, err)
		}
		if got, _ := out.Counts(wordcount.KeyCounts); !maps.Equal(got, want) {
			t.Fatalf("work %s: counts differ from a single-threaded count", id)
		}
		info, err := c.Status(ctx, id)
		if err != nil || info.Status != jobcenter.Done {
			t.Fatalf("work %s: %+v, %v", id, info, err)
		}
		if info.Attempts > 1 {
			again++
		}
	}
	return again
}

// TestJobCenterTwoContractors: two contractor processes share 1,000 no-op
// Works; each is done once, by one of them, in one attempt.
func TestJobCenterTwoContractors(t *testing.T) {
	url := startPark(t)
	for range 2 {
		start(t, " ready", "workman", "-type", "noop", "-park", url, "-capacity", "4")
	}
	contractorProc(t, url, "-type", "noop", "-id", "A", "-concurrency", "4", "-workers", "1")
	contractorProc(t, url, "-type", "noop", "-id", "B", "-concurrency", "4", "-workers", "1")
	c := jobsClient(t, url)
	ctx := context.Background()
	const works = 1000
	begin := time.Now()
	for i := range works {
		if _, err := c.Submit(ctx, jobcenter.Work{Type: "noop", ID: fmt.Sprint("n", i), Durable: true}); err != nil {
			t.Fatal(err)
		}
	}
	by := map[string]int{}
	for i := range works {
		id := fmt.Sprint("n", i)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_, err := c.Wait(wctx, id)
		cancel()
		if err != nil {
			t.Fatalf("work %s: %v", id, err)
		}
		info, err := c.Status(ctx, id)
		if err != nil || info.Status != jobcenter.Done || info.Attempts != 1 {
			t.Fatalf("work %s: %+v, %v; want done in one attempt", id, info, err)
		}
		by[info.Contractor]++
	}
	if by["A"]+by["B"] != works || by["A"] == 0 || by["B"] == 0 {
		t.Fatalf("works done by contractor: %v; want all %d shared by A and B", by, works)
	}
	t.Logf("1,000 no-op works in %v, by contractor %v", time.Since(begin).Round(time.Millisecond), by)
}
