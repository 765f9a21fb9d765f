package parkserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// getWith is get with the dashboard's token, returning the response's
// headers too.
func getWith(t *testing.T, url, token string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, resp.Header, b.String()
}

// Every response of the dashboard, refused or not, found or not, carries
// the headers that keep its page to its own script and out of frames.
func TestDashboardHeaders(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{HTTP: "127.0.0.1:0", HTTPToken: "adm1n"})
	base := "http://" + park.HTTPAddr().String()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for _, path := range []string{"/", "/static/app.js", "/static/style.css", "/api/state", "/api/registry", "/api/cluster", "/metrics", "/healthz", "/nothing-here"} {
		for _, token := range []string{"adm1n", ""} {
			code, h, _ := getWith(t, base+path, token)
			for k, v := range want {
				if h.Get(k) != v {
					t.Errorf("%s (token %q, %d): %s = %q, want %q", path, token, code, k, h.Get(k), v)
				}
			}
		}
	}
}

// openStream opens /api/events and reads its first event's line.
func openStream(t *testing.T, ctx context.Context, url, token string) (*http.Response, error) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "event: state\n" {
			resp.Body.Close()
			return nil, fmt.Errorf("first line %q: %v", line, err)
		}
	}
	return resp, nil
}

// metric returns the value of a metric without labels on /metrics.
func metric(t *testing.T, base, token, name string) string {
	t.Helper()
	_, _, body := getWith(t, base+"/metrics", token)
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/metrics has no %s:\n%s", name, body)
	return ""
}

// The event streams are bounded: one over the limit gets 503 with a body
// that says why and is counted; a stream without the token is refused
// before it is held; a closed stream frees its place.
func TestDashboardStreamsBounded(t *testing.T) {
	park := parktest.StartPark(t, parkserver.Config{HTTP: "127.0.0.1:0", HTTPToken: "adm1n", HTTPStreams: 2})
	base := "http://" + park.HTTPAddr().String()
	events := base + "/api/events"
	for range 3 {
		if code, _, _ := getWith(t, events, ""); code != http.StatusUnauthorized {
			t.Fatalf("a stream without the token = %d, want 401", code)
		}
	}
	if n := metric(t, base, "adm1n", "fourinone_dashboard_streams"); n != "0" {
		t.Fatalf("streams open after refusals without the token = %s, want 0", n)
	}
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	var bodies []*http.Response
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		resp, err := openStream(t, ctx, events, "adm1n")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream %d: %v %v", i, resp, err)
		}
		bodies = append(bodies, resp)
	}
	code, h, body := getWith(t, events, "adm1n")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "at most 2 event streams") || h.Get("Retry-After") == "" {
		t.Fatalf("a third stream = %d %q (Retry-After %q), want 503 saying the limit", code, body, h.Get("Retry-After"))
	}
	if n := metric(t, base, "adm1n", "fourinone_dashboard_streams"); n != "2" {
		t.Fatalf("streams open = %s, want 2", n)
	}
	if n := metric(t, base, "adm1n", "fourinone_dashboard_streams_refused_total"); n != "1" {
		t.Fatalf("streams refused = %s, want 1", n)
	}
	cancels[0]()
	bodies[0].Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, base, "adm1n", "fourinone_dashboard_streams") != "1" {
		if time.Now().After(deadline) {
			t.Fatal("a closed stream still counts after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancels = append(cancels, cancel)
	resp, err := openStream(t, ctx, events, "adm1n")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a stream after one closed: %v %v", resp, err)
	}
	resp.Body.Close()
	bodies[1].Body.Close()
}

// rogueMembers are registry entries as a member's credential could write
// them, each with one field out of its set or character set: the park
// leaves each out, counts it, and warns of it once.
var rogueMembers = map[string]string{
	"workman.rogue-state": `{"id":"rogue-state","role":"workman","type":"t","capacity":2,"state":"x\" onmouseover=\"alert(1)\" data-pwn=\"1","endpoint":{"url":"nats://127.0.0.1:1","subject":"fi.w.rogue-state","mode":"mesh"}}`,
	"workman.rogue-type":  `{"id":"rogue-type","role":"workman","type":"<img src=x onerror=alert(1)>","capacity":2,"state":"waiting","endpoint":{"url":"nats://127.0.0.1:1","subject":"fi.w.rogue-type","mode":"mesh"}}`,
	"workman.rogue-host":  `{"id":"rogue-host","role":"workman","type":"t","capacity":2,"state":"waiting","host":"h\"><script>alert(1)</script>","endpoint":{"url":"nats://127.0.0.1:1","subject":"fi.w.rogue-host","mode":"mesh"}}`,
	"workman.rogue-url":   `{"id":"rogue-url","role":"workman","type":"t","capacity":2,"state":"waiting","endpoint":{"url":"nats://a\" onclick=\"alert(1)","subject":"fi.w.rogue-url","mode":"mesh"}}`,
	"workman.rogue-subj":  `{"id":"rogue-subj","role":"workman","type":"t","capacity":2,"state":"waiting","endpoint":{"url":"nats://127.0.0.1:1","subject":"fi.w.>","mode":"mesh"}}`,
	"foreman.rogue-for":   `{"id":"rogue-for","role":"foreman","state":"busy","jobs":["<b>x</b>"]}`,
	"workman.rogue-busy":  `{"id":"rogue-busy","role":"workman","type":"t","capacity":2,"busy":99,"state":"busy","endpoint":{"url":"nats://127.0.0.1:1","subject":"fi.w.rogue-busy","mode":"mesh"}}`,
}

// The park checks what members write: rogue registry entries are left
// out of the view and the metrics, counted, and warned of once each while
// they stay; rogue job records likewise; a job's free text (its name and
// error) is kept as written, for the page to show as text.
func TestRogueEntriesLeftOut(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	park := parktest.StartPark(t, parkserver.Config{HTTP: "127.0.0.1:0", Lease: time.Second, Logger: zap.New(core)})
	base := "http://" + park.HTTPAddr().String()
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "t", ID: "w1"}, noop)
	nc, err := nats.Connect(park.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithCancel(context.Background())
	kv, err := js.KeyValue(ctx, registry.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	// Written again and again, as a heartbeat would (the lease is 1 s).
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	put := func() error {
		for k, v := range rogueMembers {
			if _, err := kv.Put(ctx, k, []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		for ctx.Err() == nil && put() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	name := `<img src=x onerror="alert(1)"> x" onmouseover="alert(2)`
	shown, _ := json.Marshal(registry.Job{ID: "j1", Foreman: "rogue-f", Name: name, Error: "</td><script>alert(3)</script>",
		State: registry.JobFailed, Started: time.Now(), Updated: time.Now(), Finished: time.Now()})
	records := map[string]string{
		registry.JobSubject("rogue-f", "j1"): string(shown),
		registry.JobSubject("rogue-f", "j2"): `{"id":"j2","foreman":"rogue-f","state":"x\" onmouseover=\"alert(1)"}`,
		registry.JobSubject("rogue-f", "j3"): `{"id":"j3","foreman":"f-other","state":"done"}`, // another's, misfiled
		registry.JobSubject("rogue-f", "j4"): `{"id":"j4","foreman":"rogue-f","state":"done","name":"` + strings.Repeat("n", registry.MaxJobName+1) + `"}`,
		registry.JobSubject("rogue-f", "j5"): `not json`,
	}
	for subj, rec := range records {
		if _, err := js.Publish(ctx, subj, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	warned := func(msg, field string) map[string]int {
		n := map[string]int{}
		for _, e := range logs.FilterMessage(msg).All() {
			n[e.ContextMap()[field].(string)]++
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(warned("registry entry left out", "key")) < len(rogueMembers) || len(warned("job record left out", "subject")) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("warnings after 20 s: entries %v, jobs %v", warned("registry entry left out", "key"), warned("job record left out", "subject"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A member joining now is seen by a later read of the registry, which
	// finds the rogue entries still there: no second warning.
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "t", ID: "w2"}, noop)
	var state struct {
		Members []registry.MemberView `json:"members"`
		Jobs    []registry.Job        `json:"jobs"`
	}
	for {
		_, _, body := getWith(t, base+"/api/state", "")
		if err := json.Unmarshal([]byte(body), &state); err != nil {
			t.Fatal(err)
		}
		if len(state.Members) == 2 && len(state.Jobs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/state = %s, want w1, w2 and job j1", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for warned("member joined", "id")["w2"] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the park never logged w2 joining")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for key, n := range warned("registry entry left out", "key") {
		if n != 1 || rogueMembers[key] == "" {
			t.Errorf("entry %s warned of %d times, want once", key, n)
		}
	}
	for subj, n := range warned("job record left out", "subject") {
		if n != 1 || subj == registry.JobSubject("rogue-f", "j1") {
			t.Errorf("job record %s warned of %d times, want once (and never the good one)", subj, n)
		}
	}
	if ids := []string{state.Members[0].ID, state.Members[1].ID}; ids[0]+ids[1] != "w1w2" && ids[0]+ids[1] != "w2w1" {
		t.Fatalf("members shown = %v, want w1 and w2 only", ids)
	}
	if j := state.Jobs[0]; j.ID != "j1" || j.Name != name || j.Error != "</td><script>alert(3)</script>" {
		t.Fatalf("job shown = %+v, want j1 with its name and error as written", j)
	}
	if n := metric(t, base, "", "fourinone_registry_rejected_entries"); n != fmt.Sprint(len(rogueMembers)) {
		t.Errorf("rejected entries = %s, want %d", n, len(rogueMembers))
	}
	if n := metric(t, base, "", "fourinone_jobs_rejected_total"); n != "4" {
		t.Errorf("rejected job records = %s, want 4", n)
	}
}

// A page that stops reading is dropped once a write has waited
// streamWriteTimeout (the connection's buffers full of a large view);
// one that reads stays.
func TestDashboardDropsAStalledStream(t *testing.T) {
	parkserver.SetStreamWriteTimeout(t, 300*time.Millisecond)
	park := parktest.StartPark(t, parkserver.Config{HTTP: "127.0.0.1:0"})
	base := "http://" + park.HTTPAddr().String()
	nc, err := nats.Connect(park.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A large view: 400 running jobs with 4 KiB errors, 1.6 MiB an event.
	const jobs = 400
	now := time.Now()
	for i := range jobs {
		rec, _ := json.Marshal(registry.Job{ID: fmt.Sprint("j", i), Foreman: "f", State: registry.JobRunning,
			Error: strings.Repeat("e", registry.MaxJobError), Started: now, Updated: now, Finished: now})
		if err := nc.Publish(registry.JobSubject("f", fmt.Sprint("j", i)), rec); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var state struct{ Jobs []registry.Job }
		_, _, body := getWith(t, base+"/api/state", "")
		if err := json.Unmarshal([]byte(body), &state); err != nil {
			t.Fatal(err)
		}
		if len(state.Jobs) == jobs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the park shows %d jobs, want %d", len(state.Jobs), jobs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A reader that keeps reading.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good, err := openStream(t, ctx, base+"/api/events", "")
	if err != nil {
		t.Fatal(err)
	}
	defer good.Body.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _, _ = io.Copy(io.Discard, good.Body) })
	// One that never reads, with a small window.
	stalled, err := net.Dial("tcp", park.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_ = stalled.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := stalled.Write([]byte("GET /api/events HTTP/1.1\r\nHost: park\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	held := false
	for {
		switch metric(t, base, "", "fourinone_dashboard_streams") {
		case "2":
			held = true
		case "1":
			if held {
				return // the stalled one dropped, the reader stays
			}
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("streams open: %s (the stalled one held: %v), want it dropped", metric(t, base, "", "fourinone_dashboard_streams"), held)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
