package parkserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
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
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var noop = workman.WorkerFunc(func(context.Context, *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	return nil, nil
})

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// A dashboard with a token serves only /healthz without it; one off
// loopback does not start without a token; /healthz fails once the
// registry bucket is gone.
func TestDashboardAccess(t *testing.T) {
	open, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:0", HTTP: "0.0.0.0:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := open.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "-http-token") {
		_ = open.Shutdown(context.Background())
		t.Fatalf("a dashboard on 0.0.0.0 without a token started: %v", err)
	}
	park := parktest.StartPark(t, parkserver.Config{HTTP: "127.0.0.1:0", HTTPToken: "adm1n"})
	base := "http://" + park.HTTPAddr().String()
	for _, path := range []string{"/", "/api/registry", "/metrics"} {
		if code, _ := get(t, base+path); code != http.StatusUnauthorized {
			t.Errorf("%s without the token = %d, want 401", path, code)
		}
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer adm1n")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s with the token = %d, want 200", path, resp.StatusCode)
		}
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	// A browser opens /?token=...: it gets a cookie and the address
	// without the token; the cookie lets it in.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(base + "/?token=adm1n")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.RawQuery != "" {
		t.Fatalf("/?token= = %d at %s, want 200 at / without the token", resp.StatusCode, resp.Request.URL)
	}
	if resp, err = browser.Get(base + "/api/state"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/api/state with the cookie = %d, want 200", resp.StatusCode)
	}
	// Never sent to another site.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err = noFollow.Get(base + "//evil.example/?token=adm1n"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/evil.example/" {
		t.Fatalf("redirected to %q, want a path of this site", loc)
	}
	if code, _ := get(t, base+"/?token=wrong"); code != http.StatusUnauthorized {
		t.Fatalf("/?token=wrong = %d, want 401", code)
	}
	nc, err := nats.Connect(park.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteKeyValue(context.Background(), "fourinone_registry"); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "registry") {
		t.Fatalf("/healthz with the registry bucket gone = %d %q, want 503 naming the registry", code, body)
	}
}

func TestDashboard(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{HTTP: "127.0.0.1:0"})
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "noop", ID: "w1", Capacity: 3}, noop)
	base := "http://" + park.HTTPAddr().String()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	code, body := get(t, base+"/api/registry")
	if code != 200 {
		t.Fatalf("/api/registry = %d %q", code, body)
	}
	var view struct {
		Members []struct {
			ID       string `json:"id"`
			Type     string `json:"type"`
			Capacity int    `json:"capacity"`
			State    string `json:"state"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(body), &view); err != nil {
		t.Fatal(err)
	}
	if len(view.Members) != 1 || view.Members[0].ID != "w1" || view.Members[0].Type != "noop" ||
		view.Members[0].Capacity != 3 || view.Members[0].State != "waiting" {
		t.Fatalf("registry = %+v, want workman w1", view.Members)
	}
	if code, body := get(t, base+"/"); code != 200 || !strings.Contains(body, `<script src="/static/app.js"`) {
		t.Fatalf("/ = %d, not the page: %q", code, body)
	}
	if code, body := get(t, base+"/static/app.js"); code != 200 || !strings.Contains(body, `new EventSource("/api/events")`) {
		t.Fatalf("/static/app.js = %d %q", code, body)
	}
	f := parktest.NewForeman(t, park.ClientURL(), foreman.Config{ID: "f1"})
	ws, err := f.GetWaitingWorkers(context.Background(), "noop", 1)
	if err != nil || len(ws) != 1 {
		t.Fatal(len(ws), err)
	}
	// A job run: the park keeps its end.
	tasks := []*warehouse.Warehouse{warehouse.New(), warehouse.New(), warehouse.New(), warehouse.New(), warehouse.New()}
	keep := combiner.Func(func(acc, _ *warehouse.Warehouse) (*warehouse.Warehouse, error) { return acc, nil })
	// A job shown only after an hour is never written to the park: the
	// one after it shows alone.
	if _, err := f.Run(context.Background(), ws, splitter.Tasks(warehouse.New()), keep, foreman.JobName("hidden"),
		foreman.ShowAfter(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var last foreman.Progress
	if _, err := f.Run(context.Background(), ws, splitter.Tasks(tasks...), keep, foreman.JobName("dash"),
		foreman.OnProgress(func(p foreman.Progress) { last = p })); err != nil {
		t.Fatal(err)
	}
	if !last.Final || last.Done != 5 || last.Total != 5 || last.Split != 5 || last.Running != 0 || last.Name != "dash" {
		t.Fatalf("last progress = %+v, want final, 5 of 5 done", last)
	}
	var state struct {
		Jobs []registry.Job `json:"jobs"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(state.Jobs) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the job's end is on its way to the park
		_, body := get(t, base+"/api/state")
		if err := json.Unmarshal([]byte(body), &state); err != nil {
			t.Fatal(err)
		}
	}
	if len(state.Jobs) != 1 {
		t.Fatalf("/api/state jobs = %+v, want the one job", state.Jobs)
	}
	j := state.Jobs[0]
	if j.ID != last.JobID || j.Name != "dash" || j.Foreman != "f1" || j.State != registry.JobDone || j.Done != 5 || j.Total != 5 ||
		j.BytesOut != last.BytesOut || j.BytesOut == 0 || j.Finished.IsZero() {
		t.Fatalf("job = %+v, want dash by f1 done with 5 of 5 (progress %+v)", j, last)
	}
	if _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, `fourinone_jobs{state="done"} 1`+"\n") ||
		!strings.Contains(metrics, `fourinone_jobs{state="running"} 0`+"\n") || !strings.Contains(metrics, "fourinone_slow_consumers_total 0\n") {
		t.Errorf("/metrics after the job:\n%s", metrics)
	}
	// The live stream's first event is the same view.
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "event: state\n" || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/api/events: %q %v (%s)", line, err, resp.Header.Get("Content-Type"))
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`fourinone_members{role="foreman",type=""} 1`,
		`fourinone_members{role="workman",type="noop"} 1`,
		`fourinone_capacity_slots{type="noop"} 3`,
		`fourinone_claimed_slots{type="noop"} 3`,
		`fourinone_busy_slots{type="noop"} 0`,
		"fourinone_registry_rejected_entries 0",
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
}

func TestShutdownDeregisters(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{Lease: 300 * time.Millisecond})
	wm := parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "noop"}, noop)
	ctx := context.Background()
	snap, err := park.Snapshot(ctx)
	if err != nil || len(snap.Workmen("noop")) != 1 {
		t.Fatalf("snapshot = %v, %v; want one workman", snap, err)
	}
	// A clean shutdown deregisters at once.
	if err := wm.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if snap, err = park.Snapshot(ctx); err != nil || len(snap.Workmen("")) != 0 {
		t.Fatalf("after shutdown: %v, %v; want no workmen", snap, err)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := parkserver.New(parkserver.Config{Lease: time.Millisecond}); !errors.Is(err, parkserver.ErrConfig) {
		t.Fatalf("1ms lease: %v, want ErrConfig", err)
	}
	for _, cfg := range []parkserver.Config{{Sync: -time.Second}, {Name: "p.1"}, {HTTPStreams: -1}} {
		if _, err := parkserver.New(cfg); !errors.Is(err, parkserver.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	if d, err := parkserver.ParseSync("always"); err != nil || d != parkserver.SyncAlways {
		t.Errorf("ParseSync(always) = %v, %v", d, err)
	}
	if d, err := parkserver.ParseSync("250ms"); err != nil || d != 250*time.Millisecond {
		t.Errorf("ParseSync(250ms) = %v, %v", d, err)
	}
	for _, bad := range []string{"", "never", "0s", "-1s"} {
		if _, err := parkserver.ParseSync(bad); err == nil {
			t.Errorf("ParseSync(%q): no error", bad)
		}
	}
	s, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:notaport", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "bad port") {
		t.Fatalf("Start with a bad port = %v", err)
	}
}

// TestCluster: three park servers in-process keep one registry with three
// replicas; a workman and a foreman with every URL find each other, and go
// on after the server they came through stops.
func TestCluster(t *testing.T) {
	parktest.NeedCluster(t)
	parks, urls := parktest.StartCluster(t, 3, parkserver.Config{})
	parktest.StartWorkman(t, urls, workman.Config{Type: "noop", ID: "w1", Capacity: 2}, noop)
	f := parktest.NewForeman(t, urls, foreman.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ws, err := f.WaitWorkers(ctx, "noop", 1)
	if err != nil || len(ws) != 1 {
		t.Fatalf("WaitWorkers = %d, %v", len(ws), err)
	}
	if _, err := ws[0].DoTask(ctx, warehouse.New()).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	leaders := 0
	for _, p := range parks {
		if v := p.ClusterView(context.Background()); v.Clustered && v.Leader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d JetStream meta leaders, want 1", leaders)
	}
	if err := parks[0].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	f.Release(ctx, ws...)
	for {
		ws, err = f.GetWaitingWorkers(ctx, "noop", 1)
		if err == nil && len(ws) == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("after a server stopped: GetWaitingWorkers = %d, %v", len(ws), err)
		}
	}
	if _, err := ws[0].DoTask(ctx, warehouse.New()).Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDashboardWorkQueues: the dashboard's view has the job center's
// queues, a Work type each, read from their consumers: Works queued and
// not taken, and taken and not answered.
func TestDashboardWorkQueues(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{HTTP: "127.0.0.1:0"})
	base := "http://" + park.HTTPAddr().String()
	js := parktest.JetStream(t, park.ClientURL())
	ctx := context.Background()
	// As a contractor of type "sum" makes them, with priority and without.
	var normal jetstream.Consumer
	for _, level := range []string{"high", "normal"} {
		name := "type-sum"
		if level == "high" {
			name += "-high"
		}
		c, err := js.CreateOrUpdateConsumer(ctx, jobcenter.QueueStream, jetstream.ConsumerConfig{Durable: name,
			FilterSubject: "fourinone.queue.sum." + level, AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatal(err)
		}
		normal = c
	}
	for _, subj := range []string{"fourinone.queue.sum.normal", "fourinone.queue.sum.normal", "fourinone.queue.sum.normal", "fourinone.queue.sum.high"} {
		if _, err := js.Publish(ctx, subj, []byte("w")); err != nil {
			t.Fatal(err)
		}
	}
	taken, err := normal.Fetch(1, jetstream.FetchMaxWait(5*time.Second)) // not answered
	if err != nil {
		t.Fatal(err)
	}
	for range taken.Messages() {
	}
	type queue struct {
		Type    string `json:"type"`
		Waiting int    `json:"waiting"`
		Taken   int    `json:"taken"`
	}
	var state struct {
		Works []queue `json:"works"`
	}
	code, body := get(t, base+"/api/state")
	if code != 200 {
		t.Fatalf("/api/state = %d %q", code, body)
	}
	if err := json.Unmarshal([]byte(body), &state); err != nil {
		t.Fatal(err)
	}
	if want := []queue{{"sum", 3, 1}}; len(state.Works) != 1 || state.Works[0] != want[0] {
		t.Fatalf("works = %+v, want %+v", state.Works, want)
	}
}
