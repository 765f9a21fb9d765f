package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/nats-io/nats.go/jetstream"
)

// pause spaces the tries of a loop that waits for the cluster to answer: a
// failed try (no responders) may return at once, and a loop that spins
// takes the CPU an election needs.
func pause() { time.Sleep(10 * time.Millisecond) }

// clusterPark is one park server of a test cluster.
type clusterPark struct {
	name, url, dash string
	args            []string
	p               *proc
}

// startCluster starts n park servers as one cluster (free ports, a store
// each) and waits until all are ready; it returns them and the URL list
// clients take.
func startCluster(t *testing.T, n int) ([]*clusterPark, string) {
	t.Helper()
	parktest.NeedCluster(t)
	parks := make([]*clusterPark, n)
	var routes, urls []string
	clusterAddrs := make([]string, n)
	for i := range parks {
		clusterAddrs[i] = parktest.FreeAddr(t)
		routes = append(routes, "nats-route://"+clusterAddrs[i])
	}
	for i := range parks {
		c := &clusterPark{name: fmt.Sprintf("p%d", i+1), url: "nats://" + parktest.FreeAddr(t), dash: parktest.FreeAddr(t)}
		c.args = []string{"-listen", strings.TrimPrefix(c.url, "nats://"), "-name", c.name, "-cluster", clusterAddrs[i],
			"-routes", strings.Join(routes, ","), "-store", t.TempDir(), "-http", c.dash}
		parks[i] = c
		urls = append(urls, c.url)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	dir := t.TempDir()
	for i, c := range parks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.p, _, errs[i] = startProcWithin(2*time.Minute, dir, "park server ready at ", "parkserver", c.args...)
		}()
	}
	wg.Wait()
	for i, c := range parks {
		if c.p != nil {
			t.Cleanup(func() { c.p.stop(t) })
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	return parks, strings.Join(urls, ",")
}

// leader returns the park that leads the cluster's JetStream (asking each
// dashboard), waiting up to a minute for one.
func leader(t *testing.T, parks []*clusterPark) *clusterPark {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, c := range parks {
			resp, err := http.Get("http://" + c.dash + "/api/cluster")
			if err != nil {
				continue
			}
			var v struct {
				Leader bool `json:"jetstream_meta_leader"`
			}
			err = json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
			if err == nil && v.Leader {
				return c
			}
		}
		time.Sleep(100 * time.Millisecond) // polling the dashboards: no event to wait on
	}
	t.Fatal("no JetStream meta leader in the cluster after a minute")
	return nil
}

// healed waits (up to two minutes) until every server of the cluster routes
// to every other, all agree on the meta leader, and every stream has a
// leader and all its replicas current, as each server's /api/cluster
// says; it returns how long that took.
func healed(t *testing.T, parks []*clusterPark) time.Duration {
	t.Helper()
	start := time.Now()
	var why string
	for time.Since(start) < 2*time.Minute {
		if why = unhealed(parks); why == "" {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond) // polling the dashboards: no event to wait on
	}
	t.Fatalf("the cluster did not heal within 2m: %s", why)
	return 0
}

// unhealed says what keeps the cluster from being whole, or "".
func unhealed(parks []*clusterPark) string {
	meta := ""
	for _, c := range parks {
		resp, err := http.Get("http://" + c.dash + "/api/cluster")
		if err != nil {
			return c.name + ": " + err.Error()
		}
		var v parkserver.ClusterView
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		switch {
		case err != nil:
			return c.name + ": " + err.Error()
		case v.MetaLeader == "" || meta != "" && v.MetaLeader != meta:
			return fmt.Sprintf("%s: meta leader %q", c.name, v.MetaLeader)
		case len(v.Routes) != len(parks)-1:
			return fmt.Sprintf("%s: routes to %v", c.name, v.Routes)
		case v.StreamsError != "" || len(v.Streams) == 0:
			return fmt.Sprintf("%s: streams: %q", c.name, v.StreamsError)
		}
		meta = v.MetaLeader
		for _, st := range v.Streams {
			if st.Leader == "" {
				return fmt.Sprintf("%s: stream %s without a leader", c.name, st.Name)
			}
			for _, r := range st.Replicas {
				if !r.Current || r.Offline {
					return fmt.Sprintf("%s: stream %s: replica %s behind (%d)", c.name, st.Name, r.Name, r.Lag)
				}
			}
		}
	}
	return ""
}

// TestClusterLosesOneServer: three park servers; workmen and a foreman with
// all three URLs; the JetStream meta leader is killed (-9) mid-job, in
// mesh and in hub mode. The job completes with the exact counts, registry
// writes work again (the time is printed), the workmen stay registered,
// and the killed server restarts on its store and serves again.
func TestClusterLosesOneServer(t *testing.T) {
	for _, mode := range []string{"mesh", "hub"} {
		t.Run(mode, func(t *testing.T) {
			parks, urls := startCluster(t, 3)
			chaosWorkmen(t, urls, 2, "-mode", mode)
			f, ws := dialForeman(t, urls, 2, "wordcount")
			text := genText(t, 40*taskBytes) // 40 tasks of 25 ms and more
			nc, err := wire.Connect(urls, adminConn("e2e-writer"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			kv, err := js.KeyValue(context.Background(), registry.Bucket)
			if err != nil {
				t.Fatal(err)
			}
			lead := leader(t, parks)
			var killed time.Time
			writable := make(chan time.Duration, 1)
			after, stats := countJob(t, f, ws, text, func() {
				killed = time.Now()
				if err := lead.p.cmd.Process.Kill(); err != nil {
					t.Error(err)
				}
				go func() {
					// Registry writes, through the survivors.
					for {
						ctx, cancel := context.WithTimeout(context.Background(), time.Second)
						_, err := kv.Put(ctx, "probe", []byte("x"))
						cancel()
						if err == nil {
							writable <- time.Since(killed)
							return
						}
						if time.Since(killed) > time.Minute {
							writable <- -1
							return
						}
						pause()
					}
				}()
			})
			// A workman started right after the kill registers through the
			// survivors ("ready" comes once it has).
			begun := time.Since(killed)
			start(t, " ready", "chaosworkman", "-park", urls, "-id", "w-new", "-mode", mode)
			registered := time.Since(killed)
			recovered := <-writable
			if recovered < 0 {
				t.Fatal("registry writes failed for a minute after the meta leader was killed")
			}
			t.Logf("kill -9 of the meta leader %s mid-job (%s): registry writes again %v after, the job finished %v after with the exact counts; %+v",
				lead.name, mode, recovered.Round(time.Millisecond), after.Round(time.Millisecond), stats)
			// Reading the whole registry takes a consumer, which the new meta
			// leader places: it waits for the election.
			reg, err := registry.Open(context.Background(), nc)
			if err != nil {
				t.Fatal(err)
			}
			ids, readable := liveWorkmen(t, reg, killed)
			t.Logf("the registry reads whole again %v after the kill; a workman started %v after it registered %v after it, listed %v after it",
				readable.Round(time.Millisecond), begun.Round(time.Millisecond), registered.Round(time.Millisecond), max(registered, readable).Round(time.Millisecond))
			if want := map[string]bool{"w0": true, "w1": true, "w-new": true}; !maps.Equal(ids, want) {
				t.Fatalf("registered workmen after the kill: %v, want %v", ids, want)
			}
			// The killed server restarts on its store and serves again.
			<-lead.p.done
			p, _, err := startProcWithin(2*time.Minute, t.TempDir(), "park server ready at ", "parkserver", lead.args...)
			if p != nil {
				t.Cleanup(func() { p.stop(t) })
			}
			if err != nil {
				t.Fatal(err)
			}
			back := openRegistry(t, lead.url)
			if ids, _ := liveWorkmen(t, back, time.Now()); len(ids) != 3 {
				t.Fatalf("the restarted server's registry: %v, want the 3 workmen", ids)
			}
		})
	}
}

// liveWorkmen reads the registered workmen, trying for up to a minute, and
// returns them with the time since from to the first whole read.
func liveWorkmen(t *testing.T, reg *registry.Registry, from time.Time) (map[string]bool, time.Duration) {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		snap, err := reg.Snapshot(ctx)
		cancel()
		if err == nil {
			ids := map[string]bool{}
			for _, m := range snap.Workmen("") {
				ids[m.ID] = true
			}
			return ids, time.Since(from)
		}
		if time.Since(from) > time.Minute {
			t.Fatalf("the registry does not read a minute on: %v", err)
		}
		pause()
	}
}

// TestClusterLosesTwoServers: with two of three park servers killed mid-job
// the mesh job completes exactly, registry writes fail with ErrNoQuorum,
// and they work again once one server is back on its store.
func TestClusterLosesTwoServers(t *testing.T) {
	parks, urls := startCluster(t, 3)
	chaosWorkmen(t, urls, 2)
	f, ws := dialForeman(t, urls, 2, "wordcount")
	text := genText(t, 40*taskBytes)
	nc, err := wire.Connect(urls, adminConn("e2e-writer"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	reg, err := registry.Open(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	var killed time.Time
	countJob(t, f, ws, text, func() {
		killed = time.Now()
		for _, c := range parks[:2] {
			if err := c.p.cmd.Process.Kill(); err != nil {
				t.Error(err)
			}
		}
	})
	t.Logf("two of three park servers killed: the mesh job finished %v after, exact", time.Since(killed).Round(time.Millisecond))
	probe := &registry.Member{ID: "probe", Role: registry.RoleWorkman, Type: "probe", State: registry.StateWaiting, Started: time.Now().UTC()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err = reg.Put(ctx, probe)
	cancel()
	if !errors.Is(err, registry.ErrNoQuorum) {
		t.Fatalf("a registry write with one server of three: %v, want ErrNoQuorum", err)
	}
	t.Logf("a write with one server of three: %v", err)
	<-parks[0].p.done
	back := time.Now()
	p, _, err := startProcWithin(2*time.Minute, t.TempDir(), "park server ready at ", "parkserver", parks[0].args...)
	if p != nil {
		t.Cleanup(func() { p.stop(t) })
	}
	if err != nil {
		t.Fatal(err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := reg.Put(ctx, probe)
		cancel()
		if err == nil {
			break
		}
		if time.Since(back) > time.Minute {
			t.Fatalf("registry writes fail a minute after a second server came back: %v", err)
		}
		pause()
	}
	t.Logf("registry writes again %v after a second server was started on its store", time.Since(back).Round(time.Millisecond))
}

// TestClusterJobCenterLosesLeader: 60 durable Works waiting and running
// on a three-server cluster when the JetStream meta leader is killed (-9):
// every Work completes, once, with the exact counts.
func TestClusterJobCenterLosesLeader(t *testing.T) {
	parks, urls := startCluster(t, 3)
	chaosWorkmen(t, urls, 2, "-type", "wordcount", "-capacity", "4", "-sleep-ms", "10")
	contractor := contractorProc(t, urls, "-type", "wordcount", "-concurrency", "4", "-workers", "1", "-lease", "2s")
	c := jobsClient(t, urls)
	const works = 60
	want := submitCountWorks(t, c, works)
	waitStatus(t, c, "w10", func(i *jobcenter.Info) bool { return i.Status != jobcenter.Waiting })
	lead := leader(t, parks)
	_ = lead.p.cmd.Process.Kill()
	killed := time.Now()
	again := waitCountWorks(t, c, works, want)
	t.Logf("meta leader %s killed: %d works done, %d of them run again; all done %v after the kill",
		lead.name, works, again, time.Since(killed).Round(time.Millisecond))
	contractor.stop(t)
}

// TestClusterLameDuck: a SIGTERM of the server that leads the registry's
// stream hands the leadership over first: registry writes made all along
// succeed within 10 s, a write lost with its connection tried again after
// a second as a heartbeat would be (the longest is printed).
func TestClusterLameDuck(t *testing.T) {
	parks, urls := startCluster(t, 3)
	nc, err := wire.Connect(urls, adminConn("e2e-writer"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, registry.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if info.Cluster == nil || info.Config.Replicas != 3 {
		t.Fatalf("the registry's stream: %+v, want 3 replicas", info.Config)
	}
	var lead *clusterPark
	for _, c := range parks {
		if c.name == info.Cluster.Leader {
			lead = c
		}
	}
	if lead == nil {
		t.Fatalf("the registry's stream leader %q is none of the parks", info.Cluster.Leader)
	}
	stopped := make(chan struct{})
	go func() { lead.p.stop(t); close(stopped) }()
	var longest time.Duration
	writes, retried := 0, 0
	for done := false; !done; {
		select {
		case <-stopped:
			done = true
		default:
		}
		// A request (or its reply) on a connection the server closes is
		// lost: like a heartbeat, a write tries again after a while.
		t0 := time.Now()
		for try := 1; ; try++ {
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := kv.Put(wctx, "probe", []byte("x"))
			cancel()
			if err == nil {
				break
			}
			if time.Since(t0) > 10*time.Second {
				t.Fatalf("a registry write while %s stopped: %d tries in %v: %v", lead.name, try, time.Since(t0), err)
			}
			retried++
		}
		longest = max(longest, time.Since(t0))
		writes++
	}
	t.Logf("SIGTERM of %s, the registry's stream leader: %d writes meanwhile (%d tries again), the longest %v",
		lead.name, writes, retried, longest.Round(time.Millisecond))
}

// clusterPage is what the dashboard's cluster section shows.
type clusterPage struct {
	Hidden  bool     `json:"hidden"`
	Summary string   `json:"summary"`
	Servers []string `json:"servers"`
	Streams []string `json:"streams"`
}

const readCluster = `(() => {
  const rows = (sel) => [...document.querySelectorAll(sel + " tbody tr")].filter((r) => !r.querySelector("td.empty")).map((r) => r.innerText);
  return {hidden: document.querySelector("#cluster").hidden, summary: document.querySelector("#cluster-summary").textContent,
    servers: rows("#servers"), streams: rows("#streams")};
})()`

// TestClusterDashboardInBrowser: the dashboard of one server of three
// shows the cluster in a real browser: the three servers, the meta leader
// and every stream with its leader and two current replicas; after a kill
// -9 of another server, that server's route down and it offline.
func TestClusterDashboardInBrowser(t *testing.T) {
	chrome := chromium(t)
	parks, _ := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bctx := browser(t, ctx, chrome)
	if _, err := chromedp.Run(bctx, chromedp.Navigate("http://"+parks[0].dash+"/")); err != nil {
		t.Fatal(err)
	}
	var page clusterPage
	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			var err error
			if page, err = chromedp.Run(bctx, chromedp.Evaluate[clusterPage](readCluster)); err != nil {
				t.Fatal(err)
			}
			if ok() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s; it shows %+v", what, page)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	until("three servers and every stream on three", func() bool {
		if page.Hidden || len(page.Servers) != 3 || len(page.Streams) < 5 || strings.Contains(page.Summary, "none") {
			return false
		}
		for _, s := range page.Streams {
			if strings.Count(s, "current") != 2 {
				return false
			}
		}
		return strings.HasPrefix(page.Servers[0], "p1\tthis server") && strings.HasPrefix(page.Servers[1], "p2\tup") && strings.HasPrefix(page.Servers[2], "p3\tup")
	})
	t.Logf("cluster section: %s\n%s\n%s", page.Summary, strings.Join(page.Servers, "\n"), strings.Join(page.Streams, "\n"))
	if err := parks[2].p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	until("p3 down and offline, every stream led by p1 or p2", func() bool {
		if len(page.Servers) != 3 || !strings.HasPrefix(page.Servers[2], "p3\tdown\toffline") || strings.Contains(page.Summary, "none") || len(page.Streams) < 5 {
			return false
		}
		for _, s := range page.Streams {
			if !strings.Contains(s, "p3 offline") && !strings.Contains(s, "p3 behind") {
				return false
			}
		}
		return true
	})
	t.Logf("with p3 killed: %s\n%s\n%s", page.Summary, strings.Join(page.Servers, "\n"), strings.Join(page.Streams, "\n"))
}
