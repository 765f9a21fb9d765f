package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"

	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/e2e/netsim"
	"github.com/fourinone-go/fourinone/security"
)

// Network tests: every process on a simulated host of its own (see
// e2e/netsim), a network fault injected while a job runs, and the exact
// result read from the foreman's output.

// netRun runs bin on h in the background; wait returns its stdout and
// stderr once it exits (it is killed after two minutes).
func netRun(t *testing.T, h *netsim.Host, bin string, args ...string) (wait func() (stdout, stderr string, err error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := h.Command(filepath.Join(binDir, bin), withAuth(bin, args)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var err error
	done := make(chan struct{}) // closed once cmd exited, err set
	go func() {
		<-ctx.Done()
		_ = cmd.Process.Kill()
	}()
	go func() { err = cmd.Wait(); cancel(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return func() (string, string, error) {
		<-done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && err != nil {
			return out.String(), errOut.String(), errors.Join(err, errors.New("killed after 2 minutes"))
		}
		return out.String(), errOut.String(), err
	}
}

// untilTasks waits until the task log at path has n lines (tasks started).
func untilTasks(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Count(b, []byte("\n")) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d tasks after a minute, want %d", path, bytes.Count(b, []byte("\n")), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A workman cut off from the park, but not from its foreman, mid-job:
// its lease ends at the park, but the foreman reaches it directly (mesh)
// and keeps it: the count is exact. Then the reverse, a workman cut off
// from its foreman but not from the park: the foreman counts it lost and
// its tasks go to the other workman; exact again (nothing counted twice,
// nothing lost). The same when only the foreman's packets to it are
// lost.
func TestNetWorkmanCutOff(t *testing.T) {
	for _, from := range []string{"park", "foreman", "foreman, one way"} {
		t.Run("from the "+from, func(t *testing.T) {
			n := netsim.New(t)
			hp, h0, h1, hf := n.Host("park"), n.Host("w0"), n.Host("w1"), n.Host("foreman")
			text := genText(t, 6<<20)
			want := expected(t, text)
			url := "nats://" + hp.Addr + ":4222"
			startOn(t, hp, "park server ready at ", "parkserver", "-listen", hp.Addr+":4222", "-store", t.TempDir())
			tasks := filepath.Join(t.TempDir(), "w0.tasks")
			startOn(t, h0, " ready", "chaosworkman", "-park", url, "-id", "w0", "-listen", h0.Addr+":0", "-sleep-ms", "200", "-tasklog", tasks)
			startOn(t, h1, " ready", "chaosworkman", "-park", url, "-id", "w1", "-listen", h1.Addr+":0", "-sleep-ms", "200")
			wait := netRun(t, hf, "wordcount", "-park", url, "-workers", "2", "-part-size", "65536", "-v", "-q", text)
			untilTasks(t, tasks, 3)
			cut := time.Now()
			switch from {
			case "park":
				n.Partition([]*netsim.Host{h0}, []*netsim.Host{hp})
			case "foreman":
				n.Partition([]*netsim.Host{h0}, []*netsim.Host{hf})
			default: // the foreman's packets to w0 are lost, w0's to it arrive
				n.OneWay(hf, h0)
			}
			out, errOut, err := wait()
			if err != nil {
				t.Fatalf("wordcount: %v\n%s", err, errOut)
			}
			t.Logf("the job ended %v after the cut", time.Since(cut).Round(time.Millisecond))
			if out != want {
				t.Fatalf("output differs from a single-threaded count: %d bytes, want %d\n%s", len(out), len(want), errOut)
			}
			lost := 0
			for line := range strings.Lines(errOut) {
				if strings.Contains(line, "worker lost") && strings.Contains(line, `"worker": "w0"`) && strings.Contains(line, "stopped answering pings") {
					lost++
				}
			}
			if want := map[bool]int{true: 0, false: 1}[from == "park"]; lost != want {
				t.Fatalf("cut from the %s, the foreman's log says w0 lost (pings unanswered) %d times, want %d\n%s", from, lost, want, errOut)
			}
		})
	}
}

// TestNetCoordination: 5 hosts, each with a lock client (examples/lock, 60
// increments of one counter under one lock) and an election candidate
// (examples/leader), all on one park server on a sixth host. Partitions
// cut some of the hosts from the park for 1-3 s (each host in turn, and
// others at random, seeded) and heal them,
// for as long as the lock clients work and at least 30 s (the seed is
// logged; FOURINONE_NET_SEED repeats a run). Every lock client finishes
// (a cut costs it its lock and its lease, never its run); the counter is
// exactly 5 x 60, written with strictly increasing fencing tokens; no two
// leaders' times overlap.
func TestNetCoordination(t *testing.T) {
	const clients, each = 5, 60
	seed := time.Now().UnixNano()
	if s := os.Getenv("FOURINONE_NET_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("FOURINONE_NET_SEED=%q: %v", s, err)
		}
	}
	t.Logf("partitions seeded with %d (FOURINONE_NET_SEED repeats them)", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	n := netsim.New(t)
	hp := n.Host("park")
	url := "nats://" + hp.Addr + ":4222"
	startOn(t, hp, "park server ready at ", "parkserver", "-listen", hp.Addr+":4222", "-store", t.TempDir())
	dir := t.TempDir()
	counter, leaders := filepath.Join(dir, "counter"), filepath.Join(dir, "leaders.log")
	hosts := make([]*netsim.Host, clients)
	locks := make([]*proc, clients)
	e := &election{t: t} // its candidates' lines are not read: the log says who led when
	for i := range hosts {
		hosts[i] = n.Host(fmt.Sprint("c", i))
		p, _ := startOn(t, hosts[i], "standing as", "leader", "-park", url, "-lease", "1s", "-every", "10ms", "-name", fmt.Sprint("c", i), leaders)
		e.procs = append(e.procs, p)
		locks[i], _ = startOn(t, hosts[i], "started", "lock", "-park", url, "-lease", "1s", "-n", strconv.Itoa(each), counter)
	}
	running := func() bool {
		for _, p := range locks {
			select {
			case <-p.done:
			default:
				return true
			}
		}
		return false
	}
	start, cuts := time.Now(), 0
	for time.Since(start) < 30*time.Second || running() && time.Since(start) < 4*time.Minute {
		cut := []*netsim.Host{hosts[cuts%clients]} // every host in turn, with others at random
		for _, h := range hosts {
			if h != cut[0] && rng.IntN(3) == 0 {
				cut = append(cut, h)
			}
		}
		n.Partition(cut, []*netsim.Host{hp})
		cuts++
		time.Sleep(time.Duration(1000+rng.IntN(2000)) * time.Millisecond) // the fault's length: the seed's choice
		n.Heal()
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
	}
	t.Logf("%d partitions in %v", cuts, time.Since(start).Round(time.Millisecond))
	for i, p := range locks {
		select {
		case <-p.done:
		case <-time.After(2 * time.Minute):
			t.Fatalf("lock client c%d still running 2 minutes after the last heal: %s", i, p.errText())
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("lock client c%d exited %d: %s", i, code, p.errText())
		}
	}
	checkCounter(t, counter, clients*each)
	e.stop()
	checkLeaders(t, leaders, 2)
}

// TestNetJobCenter: 200 durable word-count Works (a task of 300 ms each),
// two contractors, A and B, on hosts of their own, two workmen on a third,
// the park on a fourth and the client (chaosjobs) on a fifth. While A runs
// a Work, A's host is cut from the park, not from the workmen, for three
// of its leases, then healed. Every Work is done with the exact counts,
// in one attempt or, for those A was running when it was cut, in two: B
// took them over once A's lease ran out ("contractor A lost"), and A,
// healed, says it dropped its attempt rather than record a second result.
func TestNetJobCenter(t *testing.T) {
	const works, lease = 200, 2 * time.Second
	n := netsim.New(t)
	hp, ha, hb, hw, hc := n.Host("park"), n.Host("A"), n.Host("B"), n.Host("workmen"), n.Host("client")
	url := "nats://" + hp.Addr + ":4222"
	startOn(t, hp, "park server ready at ", "parkserver", "-listen", hp.Addr+":4222", "-store", t.TempDir())
	for i := range 2 {
		startOn(t, hw, " ready", "chaosworkman", "-park", url, "-id", fmt.Sprint("w", i), "-listen", hw.Addr+":0",
			"-type", "wordcount", "-capacity", "4", "-sleep-ms", "300")
	}
	a, _ := startOn(t, ha, "contractor ", "contractor", "-park", url, "-type", "wordcount", "-id", "A", "-lease", lease.String(), "-concurrency", "2", "-workers", "1")
	startOn(t, hb, "contractor ", "contractor", "-park", url, "-type", "wordcount", "-id", "B", "-lease", lease.String(), "-concurrency", "2", "-workers", "1")
	want := map[string]string{} // a text's counts' SHA-256, by its file
	var texts []string
	for range 8 {
		text := genText(t, 32<<10)
		texts = append(texts, text)
		want[text] = fmt.Sprintf("%x", sha256.Sum256([]byte(expected(t, text))))
	}
	wait := netRun(t, hc, "chaosjobs", append([]string{"-park", url, "-n", strconv.Itoa(works), "-part-size", "32768"}, texts...)...)
	// Cut once A runs a Work, as the park's records say after the cut (A
	// cannot change them then): those are the Works B must take over.
	var held []string
	for try := 0; len(held) == 0; try++ {
		if try == 20 {
			t.Fatal("A was never running a Work as its host was cut, in 20 tries")
		}
		for deadline := time.Now().Add(time.Minute); len(runningOn(t, hc, url, "A")) == 0; {
			if time.Now().After(deadline) {
				t.Fatal("A ran no Work for a minute")
			}
		}
		n.Partition([]*netsim.Host{ha}, []*netsim.Host{hp})
		if held = runningOn(t, hc, url, "A"); len(held) == 0 {
			n.Heal()
		}
	}
	cut := time.Now()
	time.Sleep(3 * lease) // the fault's length
	n.Heal()
	out, errOut, err := wait()
	if err != nil {
		t.Fatalf("chaosjobs: %v\n%s", err, errOut)
	}
	t.Logf("the Works all done %v after A was cut (%v) from the park running %v", time.Since(cut).Round(time.Millisecond), 3*lease, held)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != works+1 || lines[0] != fmt.Sprint("submitted ", works) {
		t.Fatalf("chaosjobs printed %d lines, want %d:\n%s", len(lines), works+1, out)
	}
	by := map[string]int{}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 7 {
			t.Fatalf("chaosjobs line %q", l)
		}
		id, file, status, attempts, contractor, sum, lastErr := f[0], f[1], f[2], f[3], f[4], f[5], f[6]
		if status != "done" || sum != want[file] {
			t.Fatalf("work %s: %s, counts %s; want done with the counts of %s (%s)", id, status, sum, file, want[file])
		}
		taken := attempts == "2" && contractor == "B" && strings.Contains(lastErr, "contractor A lost")
		if slices.Contains(held, id) != taken || !taken && (attempts != "1" || lastErr != `""`) {
			t.Fatalf("work %s: done by %s in %s attempts (%s); want two, taken by B from A, for the Works A ran as it was cut (%v), else one", id, contractor, attempts, lastErr, held)
		}
		by[contractor]++
	}
	for _, id := range held {
		if !slices.ContainsFunc(strings.Split(a.errText(), "\n"), func(l string) bool {
			return strings.Contains(l, `"`+id+`"`) && (strings.Contains(l, "its attempt here is dropped") || strings.Contains(l, "result dropped"))
		}) {
			t.Fatalf("A never said it dropped its attempt of %s:\n%s", id, a.errText())
		}
	}
	t.Logf("Works done by contractor: %v; %d taken from A by B, A dropped its attempts", by, len(held))
}

// runningOn returns the Works running on contractor as the park's records
// say, asked from host h.
func runningOn(t *testing.T, h *netsim.Host, url, contractor string) []string {
	t.Helper()
	// Reading Works takes a foreman's credentials (the command's default
	// here is a workman's).
	out, errOut, err := netRun(t, h, "fourinone", "-creds", credsFile(security.RoleForeman, "fourinone-works"),
		"-park", url, "-o", "json", "works", "-status", "running")()
	if err != nil {
		t.Fatalf("fourinone works: %v: %s", err, errOut)
	}
	var infos []struct {
		ID         string `json:"id"`
		Contractor string `json:"contractor"`
	}
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("fourinone works: %v: %s", err, out)
	}
	var ids []string
	for _, i := range infos {
		if i.Contractor == contractor {
			ids = append(ids, i.ID)
		}
	}
	return ids
}

// TestNetLatency: the foreman's links to its two mesh workmen go through a
// host that delays every packet 50 ms +- 10 ms each way (e2e/slowlink; the
// workmen advertise its addresses): the word count is exact. How long it
// takes, against the same job without the delay, is logged (fourbench
// measures the throughput).
func TestNetLatency(t *testing.T) {
	n := netsim.New(t)
	hp, hl, hf := n.Host("park"), n.Host("link"), n.Host("foreman")
	url := "nats://" + hp.Addr + ":4222"
	startOn(t, hp, "park server ready at ", "parkserver", "-listen", hp.Addr+":4222", "-store", t.TempDir())
	text := genText(t, 4<<20)
	want := expected(t, text)
	for round, delay := range []string{"0s", "50ms"} {
		jitter := map[string]string{"0s": "0s", "50ms": "10ms"}[delay]
		var workmen []*proc
		for i := range 2 {
			h := n.Host(fmt.Sprintf("w%d-%s", i, delay))
			at, via := fmt.Sprintf("%s:7000", h.Addr), fmt.Sprintf("%s:%d", hl.Addr, 7100+10*round+i)
			startOn(t, hl, "slowlink ready", "slowlink", "-listen", via, "-to", at, "-delay", delay, "-jitter", jitter)
			p, _ := startOn(t, h, " ready", "chaosworkman", "-park", url, "-id", fmt.Sprintf("w%d-%s", i, delay), "-type", "wordcount",
				"-capacity", "8", "-listen", at, "-advertise", via)
			workmen = append(workmen, p)
		}
		begin := time.Now()
		out, errOut, err := netRun(t, hf, "wordcount", "-park", url, "-workers", "2", "-part-size", "65536", "-q", text)()
		if err != nil {
			t.Fatalf("wordcount over %s links: %v\n%s", delay, err, errOut)
		}
		if out != want {
			t.Fatalf("wordcount over %s links: output differs from a single-threaded count: %d bytes, want %d\n%s", delay, len(out), len(want), errOut)
		}
		t.Logf("64 tasks over links of %s (+- %s): %v", delay, jitter, time.Since(begin).Round(time.Millisecond))
		for _, p := range workmen {
			p.stop(t) // they leave the registry: the next round's foreman gets the next round's workmen
		}
	}
}

// netCluster starts a park cluster of n servers, each on a host of its
// own, and returns the hosts and the URL list clients take.
func netCluster(t *testing.T, net *netsim.Net, n int) ([]*netsim.Host, string) {
	t.Helper()
	hosts := make([]*netsim.Host, n)
	var routes, urls []string
	for i := range hosts {
		hosts[i] = net.Host(fmt.Sprint("p", i+1))
		routes = append(routes, "nats-route://"+hosts[i].Addr+":6222")
		urls = append(urls, "nats://"+hosts[i].Addr+":4222")
	}
	procs, errs := make([]*proc, n), make([]error, n)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			procs[i], _, errs[i] = startProcOn(h, 2*time.Minute, t.TempDir(), "park server ready at ", "parkserver",
				"-listen", h.Addr+":4222", "-name", h.Name, "-cluster", h.Addr+":6222", "-routes", strings.Join(routes, ","), "-store", t.TempDir())
		})
	}
	wg.Wait()
	for i, p := range procs {
		if p != nil {
			t.Cleanup(func() { p.stop(t) })
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	return hosts, strings.Join(urls, ",")
}

// TestNetClusterPartition: a 3-server park, 4 mesh workmen (capacity 2, on
// two hosts) and 2 word-count foremen, each on a host of its own: the host
// of the JetStream meta leader is cut from every other host mid-job, for
// 10 s, then healed. A workman on that host, connected to that server
// alone, says its registry writes fail for want of a quorum. Both counts
// are exact, and no workman ran tasks of two foremen at once, or more
// than its capacity (from the workmen's own task logs).
func TestNetClusterPartition(t *testing.T) {
	n := netsim.New(t)
	parks, urls := netCluster(t, n, 3)
	wh := []*netsim.Host{n.Host("workmen-a"), n.Host("workmen-b")}
	logs := map[string]string{}
	for i := range 4 {
		id := fmt.Sprint("w", i+1)
		logs[id] = filepath.Join(t.TempDir(), id+".tasks")
		startOn(t, wh[i%2], " ready", "chaosworkman", "-park", urls, "-id", id, "-listen", wh[i%2].Addr+":0",
			"-type", "wordcount", "-capacity", "2", "-sleep-ms", "100", "-tasklog", logs[id])
	}
	// The meta leader, as the cluster reports it.
	out, errOut, err := netRun(t, wh[0], "fourinone", "-park", urls, "-o", "json", "status")()
	if err != nil {
		t.Fatalf("fourinone status: %v: %s", err, errOut)
	}
	var st struct {
		Cluster struct {
			MetaLeader string `json:"meta_leader"`
		} `json:"cluster"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("fourinone status: %v: %s", err, out)
	}
	i := slices.IndexFunc(parks, func(h *netsim.Host) bool { return h.Name == st.Cluster.MetaLeader })
	if i < 0 {
		t.Fatalf("meta leader %q is none of the park servers", st.Cluster.MetaLeader)
	}
	lead := parks[i]
	minority, _ := startOn(t, lead, " ready", "workman", "-park", "nats://"+lead.Addr+":4222", "-id", "w-minority",
		"-listen", lead.Addr+":0", "-type", "noop")
	var texts []string
	var waits []func() (string, string, error)
	for i := range 2 {
		text := genText(t, 6<<20)
		texts = append(texts, text)
		waits = append(waits, netRun(t, n.Host(fmt.Sprint("foreman", i+1)), "wordcount", "-park", urls, "-workers", "2", "-part-size", "65536", "-q", text))
	}
	// Both jobs under way: each text's tasks in the workmen's logs.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		all := ""
		for _, path := range logs {
			b, _ := os.ReadFile(path)
			all += string(b)
		}
		if strings.Count(all, "start "+filepath.Base(texts[0])+" ") >= 4 && strings.Count(all, "start "+filepath.Base(texts[1])+" ") >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two jobs did not both start within a minute:\n%s", all)
		}
	}
	cut := time.Now()
	n.Isolate(lead)
	t.Cleanup(n.Heal) // if the test ends early: before the processes stop
	for deadline := time.Now().Add(time.Minute); !strings.Contains(minority.errText(), "no quorum"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the workman on the cut-off meta leader's host never said its writes lack a quorum:\n%s", minority.errText())
		}
	}
	t.Logf("the minority side's registry writes fail with no quorum %v after the cut", time.Since(cut).Round(time.Millisecond))
	time.Sleep(10*time.Second - time.Since(cut)) // the fault's length
	n.Heal()
	for i, wait := range waits {
		out, errOut, err := wait()
		if err != nil {
			t.Fatalf("foreman %d: %v\n%s", i+1, err, errOut)
		}
		if out != expected(t, texts[i]) {
			t.Fatalf("foreman %d: output differs from a single-threaded count\n%s", i+1, errOut)
		}
	}
	t.Logf("meta leader %s cut off for 10 s mid-job: both counts exact %v after the cut", lead.Name, time.Since(cut).Round(time.Millisecond))
	for id, path := range logs {
		checkExclusive(t, id, readTaskLog(t, path), 2)
	}
}
