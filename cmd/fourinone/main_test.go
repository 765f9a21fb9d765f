package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cmd runs one command line and returns its exit status and output.
func cmd(t *testing.T, park string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), append([]string{"-park", park}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// jsonOf runs a command with -o json and decodes its output into v.
func jsonOf(t *testing.T, park string, v any, args ...string) {
	t.Helper()
	code, out, errOut := cmd(t, park, append([]string{"-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: %v in %q", args, err, out)
	}
}

// until runs check until it holds, failing after 20 s.
func until(t *testing.T, what string, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every command against a real park with a job running on a workman, then
// cancelled.
func TestCommands(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{Lease: 600 * time.Millisecond})
	url := park.ClientURL()
	release := make(chan struct{})
	blocking := workman.WorkerFunc(func(ctx context.Context, _ *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		select {
		case <-release:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	parktest.StartWorkman(t, url, workman.Config{Type: "block", ID: "w1", Capacity: 2}, blocking)
	f := parktest.NewForeman(t, url, foreman.Config{ID: "f1"})
	ws, err := f.GetWaitingWorkers(t.Context(), "block", 1)
	if err != nil {
		t.Fatal(err)
	}
	keep := combiner.Func(func(acc, _ *warehouse.Warehouse) (*warehouse.Warehouse, error) { return acc, nil })
	runErr := make(chan error, 1)
	go func() {
		tasks := splitter.Tasks(warehouse.New(), warehouse.New(), warehouse.New(), warehouse.New())
		_, err := f.Run(context.Background(), ws, tasks, keep, foreman.JobName("cli-test"), foreman.NoBackups())
		runErr <- err
	}()

	var jobs []registry.Job
	until(t, "the job runs with 2 tasks running", func() bool {
		jsonOf(t, url, &jobs, "jobs", "-running")
		return len(jobs) == 1 && jobs[0].Running == 2
	})
	j := jobs[0]
	if j.Name != "cli-test" || j.Foreman != "f1" || j.State != registry.JobRunning || j.Total != 4 || j.Done != 0 || j.Workers != 1 {
		t.Fatalf("running job = %+v", j)
	}
	var st statusView
	until(t, "the workman says it is busy with 2 tasks", func() bool {
		jsonOf(t, url, &st, "status")
		return len(st.Groups) == 2 && st.Groups[1].Busy == 2
	})
	want := []group{{Role: "foreman", Members: 1}, {Role: "workman", Type: "block", Members: 1, Capacity: 2, Busy: 2, Claimed: 2}}
	if st.Running != 1 || st.Finished != 0 || len(st.Groups) != 2 || st.Groups[0] != want[0] || st.Groups[1] != want[1] {
		t.Fatalf("status = %+v, want %+v and one job running", st, want)
	}
	if st.Cluster != nil || st.ClusterError != "" {
		t.Fatalf("status of a park of one server shows a cluster: %+v, %q", st.Cluster, st.ClusterError)
	}
	var wk []registry.MemberView
	jsonOf(t, url, &wk, "workers", "-type", "block")
	if len(wk) != 1 || wk[0].ID != "w1" || wk[0].State != registry.StateBusy || wk[0].Busy != 2 || len(wk[0].For) != 1 || wk[0].For[0] != "f1" {
		t.Fatalf("workers = %+v, want w1 busy with 2 tasks for f1", wk)
	}
	if code, out, _ := cmd(t, url, "workers", "-type", "other"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("workers -type other: %d %q, want the header alone", code, out)
	}
	code, out, _ := cmd(t, url, "job", j.ID[:13])
	if code != 0 || !strings.Contains(out, "state:") || !strings.Contains(out, "running") || !strings.Contains(out, "0/4 done") {
		t.Fatalf("job by prefix: %d %q", code, out)
	}
	code, out, _ = cmd(t, url, "watch", "-n", "2", "-every", "10ms")
	if code != 0 || strings.Count(out, "ROLE") != 2 || strings.Count(out, "cli-test") != 2 {
		t.Fatalf("watch -n 2: %d %q", code, out)
	}

	// Cancelled: the foreman stops the job, which ends cancelled.
	code, out, errOut := cmd(t, url, "cancel", j.ID)
	if code != 0 || !strings.Contains(out, "cancelled job "+j.ID) {
		t.Fatalf("cancel: %d %q %q", code, out, errOut)
	}
	if err := <-runErr; !errors.Is(err, foreman.ErrJobCancelled) {
		t.Fatalf("Run after cancel = %v, want ErrJobCancelled", err)
	}
	var done registry.Job
	until(t, "the job written cancelled", func() bool {
		jsonOf(t, url, &done, "job", j.ID)
		return done.State != registry.JobRunning
	})
	if done.State != registry.JobCancelled || done.Finished.IsZero() || !strings.Contains(done.Error, "cancelled") {
		t.Fatalf("job after cancel = %+v", done)
	}
	// Its timeline: the two tasks that ran on w1's two slots, dropped
	// when the job was cancelled.
	var tl registry.Timeline
	jsonOf(t, url, &tl, "job", j.ID, "-timeline")
	slots := map[int]bool{}
	for _, a := range tl.Attempts {
		if a.Outcome != registry.Dropped || a.Kind != registry.First || a.Finished < a.Started {
			t.Fatalf("attempt %+v, want a first attempt dropped", a)
		}
		slots[a.Slot] = true
	}
	if tl.Recorded != 2 || len(tl.Attempts) != 2 || len(tl.Workers) != 1 || tl.Workers[0] != "w1" || !slots[0] || !slots[1] {
		t.Fatalf("timeline %+v, want 2 attempts on w1's slots 0 and 1", tl)
	}
	code, out, _ = cmd(t, url, "job", j.ID, "-timeline")
	if code != 0 || !strings.Contains(out, "2 attempts on 1 workers") || !strings.Contains(out, "reruns and the attempts that made them (2)") ||
		!regexp.MustCompile(`(?m)^w1\s+2\s+2\s`).MatchString(out) {
		t.Fatalf("job -timeline: %d %q", code, out)
	}
	code, out, _ = cmd(t, url, "jobs")
	if code != 0 || !strings.Contains(out, "cancelled") || !strings.HasPrefix(out, "ID ") {
		t.Fatalf("jobs: %d %q", code, out)
	}

	// The job center's Works: one submitted, no contractor to run it.
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The foreman answers a cancel of a job it does not run.
	if reply, err := nc.Request(registry.JobCancelSubject("f1", "nope"), nil, 5*time.Second); err != nil || !strings.HasPrefix(string(reply.Data), "error:") {
		t.Fatalf("cancel of a job f1 does not run: %v %v, want an error reply", reply, err)
	}
	jc, err := jobcenter.New(t.Context(), nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jc.Submit(t.Context(), jobcenter.Work{Type: "idle", ID: "work-1", Durable: true}); err != nil {
		t.Fatal(err)
	}
	var works []jobcenter.Info
	jsonOf(t, url, &works, "works", "-type", "idle")
	if len(works) != 1 || works[0].ID != "work-1" || works[0].Status != jobcenter.Waiting || works[0].Attempts != 0 {
		t.Fatalf("works = %+v, want work-1 waiting", works)
	}
	jsonOf(t, url, &works, "works", "-status", "done")
	if len(works) != 0 {
		t.Fatalf("works -status done = %+v, want none", works)
	}
	if code, out, _ := cmd(t, url, "work", "work-1"); code != 0 || !strings.Contains(out, "waiting") || !strings.Contains(out, "0 of 3") {
		t.Fatalf("work work-1: %d %q", code, out)
	}
	if code, _, errOut := cmd(t, url, "work", "nosuchwork"); code != exitNotFound {
		t.Fatalf("work nosuchwork: %d %q, want 3", code, errOut)
	}

	// Submitted from the command line, cancelled, resubmitted, and done
	// once a contractor runs it.
	code, out, errOut = cmd(t, url, "submit", "-type", "count", "-id", "work-2")
	if code != 0 || out != "work-2\n" {
		t.Fatalf("submit: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := cmd(t, url, "cancel", "-work", "work-2"); code != 0 || !strings.Contains(out, "cancelled Work work-2") {
		t.Fatalf("cancel -work: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := cmd(t, url, "resubmit", "work-2"); code != 0 || !strings.Contains(out, "resubmitted Work work-2") {
		t.Fatalf("resubmit: %d %q %q", code, out, errOut)
	}
	parktest.StartWorkman(t, url, workman.Config{Type: "counter"}, workman.WorkerFunc(func(_ context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		lo, _ := in.Int64(splitter.KeyLo)
		hi, _ := in.Int64(splitter.KeyHi)
		out := warehouse.New()
		out.SetInt64("n", hi-lo)
		return out, nil
	}))
	cf := parktest.NewForeman(t, url, foreman.Config{})
	cctx, stopContractor := context.WithCancel(t.Context())
	ct, err := jobcenter.NewContractor(cctx, nc, cf, jobcenter.Definition{Type: "count", WorkerType: "counter",
		Job: func(context.Context, *warehouse.Warehouse) (splitter.Splitter, combiner.Combiner, error) {
			return splitter.IntRange(0, 100, 7), combiner.SumInt64("n"), nil
		}}, jobcenter.ContractorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = ct.Serve(cctx) }()
	defer func() { stopContractor(); <-served }()
	if code, out, errOut := cmd(t, url, "wait", "work-2"); code != 0 || out != "n:  100\n" {
		t.Fatalf("wait: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cmd(t, url, "wait", "nosuchwork"); code != exitNotFound || !strings.Contains(errOut, "no such Work") {
		t.Fatalf("wait nosuchwork: %d %q, want 3", code, errOut)
	}

	// Errors a script can tell apart.
	if code, _, errOut := cmd(t, url, "cancel", j.ID); code != exitFailed || !strings.Contains(errOut, "cancelled already") {
		t.Fatalf("cancel again: %d %q, want 1", code, errOut)
	}
	if code, _, errOut := cmd(t, url, "job", "nosuchjob"); code != exitNotFound || !strings.Contains(errOut, "no such job") {
		t.Fatalf("job nosuchjob: %d %q, want 3", code, errOut)
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"job"}, "job wants one ID"},
		{[]string{"status", "extra"}, "status takes no arguments"},
		{[]string{"-o", "yaml", "status"}, `-o "yaml"`},
		{nil, "no command"},
		{[]string{"watch", "-every", "0s"}, "-every 0s"},
		{[]string{"jobs", "-type", "x"}, "flag provided but not defined: -type"},
		{[]string{"-frobnicate", "status"}, "flag provided but not defined: -frobnicate"},
		{[]string{"submit", "-type", "wordcount"}, "wants the files to count"},
	} {
		code, out, errOut := cmd(t, url, c.args...)
		if code != exitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.says) {
			t.Errorf("%q: %d %q %q, want 2 and one line saying %q", c.args, code, out, errOut, c.says)
		}
	}
	// -h: a command's own flags, on stdout, exit 0.
	if code, out, errOut := cmd(t, url, "works", "-h"); code != 0 || errOut != "" || !strings.Contains(out, "-status") || strings.Contains(out, "-running") || strings.Contains(out, "-top") {
		t.Errorf("works -h: %d %q %q, want its own flags", code, out, errOut)
	}
	if code, out, errOut := cmd(t, url, "-h"); code != 0 || errOut != "" || !strings.Contains(out, "resubmit") || !strings.Contains(out, "-park") {
		t.Errorf("-h: %d %q %q, want the commands and the common flags", code, out, errOut)
	}
	if code, _, errOut := cmd(t, "nats://127.0.0.1:1", "status"); code != exitFailed || !strings.Contains(errOut, "park") {
		t.Fatalf("no park: %d %q, want 1", code, errOut)
	}
	close(release)
}

// TestStatusCluster: status shows a cluster of three, every server
// answering with routes to the two others and every stream led and kept
// by three; with one server stopped, it is shown unanswered and offline,
// and the streams go on with a leader among the two left.
func TestStatusCluster(t *testing.T) {
	parktest.NeedCluster(t)
	parks, urls := parktest.StartCluster(t, 3, parkserver.Config{})
	var st statusView
	healthy := func() bool {
		jsonOf(t, urls, &st, "status")
		c := st.Cluster
		if c == nil || c.MetaLeader == "" || len(c.Servers) != 3 || len(c.Streams) == 0 {
			return false
		}
		for _, s := range c.Servers {
			if !s.Answered || len(s.Routes) != 2 || s.Meta != "leader" && s.Meta != "current" {
				return false
			}
		}
		for _, s := range c.Streams {
			if s.Leader == "" || len(s.Replicas) != 3 {
				return false
			}
		}
		return true
	}
	until(t, "status shows three servers, all current, and every stream on three", healthy)
	code, out, _ := cmd(t, urls, "status")
	if code != 0 || !strings.Contains(out, "cluster of 3 servers, meta leader "+st.Cluster.MetaLeader) || !strings.Contains(out, "KV_fourinone_registry") {
		t.Fatalf("status: %d %q", code, out)
	}
	t.Logf("status:\n%s", out)

	if err := parks[2].Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	until(t, "status shows p3 gone and the streams led by p1 or p2", func() bool {
		jsonOf(t, urls, &st, "status")
		c := st.Cluster
		if c == nil || c.MetaLeader == "" || c.MetaLeader == "p3" || len(c.Servers) != 3 || len(c.Streams) == 0 {
			return false
		}
		for _, s := range c.Servers {
			if s.Answered != (s.Name != "p3") || s.Name == "p3" && s.Meta != "offline" {
				return false
			}
		}
		for _, s := range c.Streams {
			if s.Leader == "" || s.Leader == "p3" {
				return false
			}
		}
		return true
	})
	_, out, _ = cmd(t, urls, "status")
	t.Logf("status with p3 stopped:\n%s", out)
}
