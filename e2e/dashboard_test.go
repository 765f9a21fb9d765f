package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

// chromium returns the path of a Chromium (or Chrome) to test the
// dashboard in. Without one the test is skipped, unless
// FOURINONE_BROWSER_TESTS is set (as .ci/run does, after installing it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROME"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FOURINONE_BROWSER_TESTS") != "" {
		t.Fatal("no chromium on $PATH (apt-get install chromium), and FOURINONE_BROWSER_TESTS is set")
	}
	t.Skip("no chromium on $PATH: apt-get install -y --no-install-recommends chromium")
	return ""
}

// browser starts chrome for ctx; it stops at the test's end. Chromium
// sometimes crashes as it starts on a loaded machine: a start that fails
// is tried again, twice.
func browser(t *testing.T, ctx context.Context, chrome string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1500, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	for try := 1; ; try++ {
		actx, stopAlloc := chromedp.NewExecAllocator(ctx, opts...)
		bctx, stopBrowser := chromedp.NewContext(actx)
		_, err := chromedp.Run(bctx, chromedp.Evaluate[int]("1")) // starts the browser
		if err == nil {
			t.Cleanup(stopAlloc)
			t.Cleanup(stopBrowser)
			return bctx
		}
		stopBrowser()
		stopAlloc()
		if try == 3 {
			t.Fatalf("chromium did not start in 3 tries: %v", err)
		}
		t.Logf("chromium did not start (try %d of 3), trying again: %.200v", try, err)
	}
}

// screenshot saves the page as a PNG at the path in the environment
// variable env, if it is set (docs/dashboard.png and docs/timeline.png
// are made so).
func screenshot(t *testing.T, bctx context.Context, env string) {
	t.Helper()
	shot := os.Getenv(env)
	if shot == "" {
		return
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pageState is what the test reads from the rendered page.
type pageState struct {
	Conn    string   `json:"conn"`
	Members []string `json:"members"` // rows' text
	Running []string `json:"running"`
	Done    []int    `json:"done"` // the running jobs' bars' tasks done
	Total   []int    `json:"total"`
	Ended   []string `json:"finished"`
}

const readPage = `(() => {
  const rows = (sel) => [...document.querySelectorAll(sel + " tbody tr")].filter((r) => !r.querySelector("td.empty")).map((r) => r.innerText);
  const bars = [...document.querySelectorAll("#running .bar")];
  return {
    conn: document.querySelector("#conn").textContent,
    members: rows("#members"), running: rows("#running"), finished: rows("#finished"),
    done: bars.map((b) => +b.dataset.done), total: bars.map((b) => +b.dataset.total),
  };
})()`

// The dashboard in a real browser: a park, two workmen and a word count as
// separate processes (the foreman here); the page shows the members, then
// the job running with its progress growing, then the job done, as the
// rendered DOM says.
func TestDashboardInBrowser(t *testing.T) {
	chrome := chromium(t)
	text := genText(t, 3<<20)
	want, err := wordcount.CountLocal(text)
	if err != nil {
		t.Fatal(err)
	}
	p, line := start(t, "park server ready at ", "parkserver", "-listen", "127.0.0.1:0", "-store", t.TempDir(), "-http", "127.0.0.1:0")
	url := strings.TrimPrefix(line, "park server ready at ")
	dash := strings.TrimPrefix(waitLine(t, p, "dashboard at "), "dashboard at ")
	chaosWorkmen(t, url, 2, "-type", "wordcount", "-capacity", "2")
	f, ws := dialForeman(t, url, 2, "wordcount")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bctx := browser(t, ctx, chrome)
	var page pageState
	read := func() pageState {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[pageState](readPage))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	until := func(what string, ok func(pageState) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for page = read(); !ok(page); page = read() {
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %s; it shows %+v", what, page)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if _, err := chromedp.Run(bctx, chromedp.Navigate(dash)); err != nil {
		t.Fatal(err)
	}
	until("both workmen and the foreman, live", func(s pageState) bool {
		return s.Conn == "live" && len(s.Members) == 3 && strings.Contains(strings.Join(s.Members, "\n"), "w0") &&
			strings.Contains(strings.Join(s.Members, "\n"), "w1")
	})

	// A word count of 3 MiB in 32 KiB parts, each task 300 ms at least: 96
	// tasks on 4 slots, about 7 s.
	job := wordcount.Splitter([]string{text}, 32<<10, false)
	total := job.(splitter.Sized).Size()
	runDone := make(chan error, 1)
	var last foreman.Progress
	go func() {
		res, err := f.Run(ctx, ws, sleepy(job, 300), wordcount.Combiner(), foreman.JobName("browser-count"),
			foreman.OnProgress(func(p foreman.Progress) { last = p }))
		if err == nil {
			if got, _ := res.Counts(wordcount.KeyCounts); !maps.Equal(got, want) {
				t.Errorf("counts differ from a single-threaded count: %d distinct words, want %d", len(got), len(want))
			}
		}
		runDone <- err
	}()
	until("the job running with tasks done", func(s pageState) bool {
		return len(s.Running) == 1 && len(s.Done) == 1 && s.Done[0] > 0 && s.Total[0] == total
	})
	first := page.Done[0]
	if !strings.Contains(page.Running[0], "browser-count") {
		t.Fatalf("running job row = %q, want the job's name", page.Running[0])
	}
	busy := map[string]bool{}
	until("each workman busy", func(s pageState) bool {
		for _, row := range s.Members {
			// Busy, with the job it works on named through its foreman.
			if f := strings.Split(row, "\t"); len(f) > 7 && f[3] == "busy" && f[4] != "0 / 2" && strings.Contains(f[7], "(browser-count)") {
				busy[f[2]] = true
			}
		}
		return busy["w0"] && busy["w1"]
	})
	until("the job's progress growing", func(s pageState) bool {
		return len(s.Done) == 1 && s.Done[0] > first
	})
	t.Logf("progress on the page: %d, then %d of %d tasks", first, page.Done[0], total)
	screenshot(t, bctx, "FOURINONE_SCREENSHOT")
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	if !last.Final || last.Done != last.Total || last.Done < total-2 {
		t.Fatalf("last progress = %+v, want all of about %d tasks done", last, total)
	}
	until("the job done with every task", func(s pageState) bool {
		return len(s.Running) == 0 && len(s.Ended) == 1
	})
	if row := page.Ended[0]; !strings.Contains(row, "browser-count") || !strings.Contains(row, "done") ||
		!strings.Contains(row, "\t"+strconv.Itoa(last.Done)+"\t") {
		t.Fatalf("finished job row = %q, want browser-count done with %d tasks", row, last.Done)
	}
}

// The fourinone command as a member with the least role (a workman's
// credential) reads the registry and the jobs (it could not read the jobs
// before its role might pull from their consumer).
func TestFourinoneWithCredentials(t *testing.T) {
	url := startPark(t)
	chaosWorkmen(t, url, 1, "-type", "wordcount")
	f, ws := dialForeman(t, url, 1, "wordcount")
	text := genText(t, 64<<10)
	if _, err := f.Run(context.Background(), ws, wordcount.Splitter([]string{text}, 16<<10, false), wordcount.Combiner(),
		foreman.JobName("creds-count")); err != nil {
		t.Fatal(err)
	}
	var out string
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out, "creds-count") {
		if time.Now().After(deadline) {
			t.Fatalf("fourinone jobs never listed the job: %q", out)
		}
		var stderr string
		var err error
		if out, stderr, err = runCmd(t, "fourinone", "-park", url, "jobs"); err != nil {
			t.Fatalf("fourinone jobs with a workman's credential: %v: %s", err, stderr)
		}
	}
	if !strings.Contains(out, "done") {
		t.Fatalf("fourinone jobs: %q, want the job done", out)
	}
	if out, stderr, err := runCmd(t, "fourinone", "-park", url, "status"); err != nil || !strings.Contains(out, "wordcount") {
		t.Fatalf("fourinone status: %v %q %s", err, out, stderr)
	}
}

// auditPage lists what the page must never have, whatever the park sends:
// an element or attribute it does not make itself, or a class outside its
// fixed set; and returns the page's text.
const auditPage = `(() => {
  const attrs = new Set(["class", "id", "colspan", "data-done", "data-total", "style", "x", "y", "width", "height", "viewbox", "preserveaspectratio", "role", "aria-label", "hidden",
    "data-task", "data-worker", "data-slot"]);
  const classes = new Set(["empty", "muted", "error", "bar", "conn", "up", "down", "pick",
    "tl-running", "tl-done", "tl-exception", "tl-lost", "tl-busy", "tl-dropped", "tl-rerun",
    "state-waiting", "state-busy", "state-running", "state-done", "state-failed", "state-cancelled", "state-lost",
    "replica-leader", "replica-current", "replica-behind", "replica-offline"]);
  const tags = new Set(["HEADER", "H1", "H2", "P", "SPAN", "MAIN", "SECTION", "svg", "rect", "text", "title", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD", "B", "DIV"]);
  const bad = [];
  for (const e of document.body.querySelectorAll("*")) {
    if (!tags.has(e.tagName)) bad.push("element " + e.tagName);
    for (const a of e.attributes) {
      if (!attrs.has(a.name.toLowerCase())) bad.push(e.tagName + " attribute " + a.name + "=" + a.value);
      if (a.name === "style" && !/^width: [0-9.]+%;$/.test(a.value)) bad.push(e.tagName + " style " + a.value);
    }
    for (const c of e.classList) if (!classes.has(c)) bad.push(e.tagName + " class " + c);
  }
  return {bad: bad, text: document.body.innerText, violations: window.cspViolations || []};
})()`

type audit struct {
	Bad        []string `json:"bad"`
	Text       string   `json:"text"`
	Violations []string `json:"violations"`
}

// A rogue member's words are data on the dashboard: a registry entry
// written with a workman's credential, its state made to break out of an
// attribute, is left out; a job written with a foreman's credential, its
// name and error made of markup, shows as plain text; and a view with
// markup in every field it shows, rendered by the page's own code, adds no
// element, attribute or class and shows each value as written. The page
// runs under its Content-Security-Policy with no violation.
func TestDashboardHostileInBrowser(t *testing.T) {
	chrome := chromium(t)
	p, line := start(t, "park server ready at ", "parkserver", "-listen", "127.0.0.1:0", "-store", t.TempDir(), "-http", "127.0.0.1:0")
	url := strings.TrimPrefix(line, "park server ready at ")
	dash := strings.TrimPrefix(waitLine(t, p, "dashboard at "), "dashboard at ")
	chaosWorkmen(t, url, 1, "-type", "wordcount")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rogue := connectAs(t, url, security.RoleWorkman, "rogue")
	kv, err := rogue.js.KeyValue(ctx, "fourinone_registry")
	if err != nil {
		t.Fatal(err)
	}
	entry := `{"id":"rogue","role":"workman","type":"wordcount","capacity":2,"state":"x\" onmouseover=\"alert(1)\" data-pwn=\"1",` +
		`"endpoint":{"url":"nats://127.0.0.1:1","subject":"fi.w.rogue","mode":"hub"}}`
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { // as its heartbeat would, within the lease
		for ctx.Err() == nil {
			_, _ = kv.Put(ctx, "workman.rogue", []byte(entry))
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	name := `<img src=x onerror="document.title='pwned'"> x" onmouseover="alert(2)" data-pwn="2`
	jobErr := `</td><script>document.title='pwned'</script><b data-pwn="3">bold</b>`
	now := time.Now().UTC()
	rec, _ := json.Marshal(registry.Job{ID: "j1", Foreman: "rogue-f", Name: name, Error: jobErr, State: registry.JobFailed,
		Started: now.Add(-time.Second), Updated: now, Finished: now})
	rf := connectAs(t, url, security.RoleForeman, "rogue-f")
	if err := rf.nc.Publish(registry.JobSubject("rogue-f", "j1"), rec); err != nil {
		t.Fatal(err)
	}
	if err := rf.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	bctx := browser(t, ctx, chrome)
	if _, err := chromedp.Run(bctx, chromedp.Navigate(dash)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[any](`window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI)); 0`)); err != nil {
		t.Fatal(err)
	}
	var page pageState
	deadline := time.Now().Add(30 * time.Second)
	for {
		if page, err = chromedp.Run(bctx, chromedp.Evaluate[pageState](readPage)); err != nil {
			t.Fatal(err)
		}
		if page.Conn == "live" && len(page.Members) == 1 && len(page.Ended) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed the workman and the rogue job; it shows %+v", page)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(page.Members[0], "rogue") || !strings.Contains(page.Members[0], "w0") {
		t.Fatalf("members shown: %q, want w0 alone (the rogue entry left out)", page.Members)
	}
	if row := page.Ended[0]; !strings.Contains(row, name) || !strings.Contains(row, jobErr) {
		t.Fatalf("the rogue job's row is %q, want its name %q and error %q as text", row, name, jobErr)
	}
	a, err := chromedp.Run(bctx, chromedp.Evaluate[audit](auditPage))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Bad) > 0 || len(a.Violations) > 0 {
		t.Fatalf("the page gained %q; CSP violations %q", a.Bad, a.Violations)
	}

	// Markup in every field the page shows, rendered by the page's own
	// render (at once, before the next event replaces it).
	mark := func(field string) string {
		return `<img src=x onerror="document.title='` + field + `'">` + field + `" onmouseover="alert(1)" data-pwn="` + field
	}
	fields := []string{"url", "m.role", "m.type", "m.id", "m.state", "m.host", "m.mode", "m.endpoint", "m.for",
		"r.name", "r.id", "r.foreman", "f.name", "f.id", "f.foreman", "f.state", "f.error", "w.type",
		"c.name", "c.meta_leader", "c.route", "c.peer", "s.name", "s.leader", "s.replica"}
	cluster := map[string]any{
		"name": mark("c.name"), "clustered": true, "jetstream_meta_leader": true, "meta_leader": mark("c.meta_leader"),
		"routes": []string{mark("c.route")},
		"peers":  []map[string]any{{"name": mark("c.peer"), "current": false, "lag": 3, "seen_ms": 1500}},
		"streams": []map[string]any{{"name": mark("s.name"), "messages": 1, "leader": mark("s.leader"),
			"replicas": []map[string]any{{"name": mark("s.leader"), "leader": true, "current": true}, {"name": mark("s.replica"), "offline": true}}}},
	}
	view := map[string]any{
		"url": mark("url"),
		"members": []map[string]any{
			{"role": "workman", "type": mark("m.type"), "id": mark("m.id"), "state": mark("m.state"), "host": mark("m.host"),
				"capacity": 2, "busy": 1, "claimed": 2, "done": 3, "failed": 0, "pid": 7, "for": []string{mark("m.for")}, "last_seen_seconds": 1,
				"endpoint": map[string]any{"mode": mark("m.mode"), "url": mark("m.endpoint")}},
			{"role": mark("m.role"), "id": "x", "state": "waiting", "last_seen_seconds": 1},
		},
		"jobs": []map[string]any{
			{"id": mark("r.id"), "name": mark("r.name"), "foreman": mark("r.foreman"), "state": "running", "done": 1, "total": 2, "split": 2,
				"rate": 1, "eta_seconds": 1, "workers": 1, "retried": 0, "reassigned": 0, "backups": 0, "failed": 0, "bytes_in": 1, "bytes_out": 1},
			{"id": mark("f.id"), "name": mark("f.name"), "foreman": mark("f.foreman"), "state": mark("f.state"), "error": mark("f.error"),
				"done": 2, "failed": 0, "rate": 1, "started": now.Format(time.RFC3339), "finished": now.Format(time.RFC3339)},
		},
		"works":      []map[string]any{{"type": mark("w.type"), "waiting": 1, "taken": 0}},
		"throughput": []int{1, 2, 3},
	}
	js, _ := json.Marshal(view)
	cjs, _ := json.Marshal(cluster)
	// A timeline too (the park's reader refuses such names; the page does
	// not count on it).
	tl, _ := json.Marshal(map[string]any{"job": mark("t.job"), "start": now.Format(time.RFC3339), "recorded": 2,
		"workers": []string{mark("t.worker")}, "attempts": [][8]any{{0, 0, 0, 0, 5, 9, 1, 0}, {1, "0", mark("t.slot"), 0, 6, 0, "x", 1}}})
	fields = append(fields, "t.job")
	a, err = chromedp.Run(bctx, chromedp.Evaluate[audit](`document.querySelector("#timeline-section").hidden = false; drawTimeline(`+string(tl)+`); `+
		"renderCluster("+string(cjs)+"); render("+string(js)+"); "+auditPage))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Bad) > 0 || len(a.Violations) > 0 {
		t.Fatalf("a hostile view made the page gain %q; CSP violations %q", a.Bad, a.Violations)
	}
	for _, f := range fields {
		if !strings.Contains(a.Text, mark(f)) {
			t.Errorf("field %s not shown as written (%q) in the page:\n%s", f, mark(f), a.Text)
		}
	}
	if lane, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("#timeline text").textContent`)); err != nil ||
		!strings.Contains(lane, mark("t.worker")) {
		t.Errorf("the timeline's lane shows %q (%v), want the worker %q as written", lane, err, mark("t.worker"))
	}
	if title, err := chromedp.Run(bctx, chromedp.Evaluate[string]("document.title")); err != nil || title != "fourinone park" {
		t.Fatalf("title = %q (%v): a value ran as script", title, err)
	}
}

// The task timeline in a real browser: a park and two echo workmen as
// processes, a job of 12 tasks of which one sleeps 6 s. The page, opened
// at the job's address while it runs, shows the slow task running on the
// lane of the worker the registry shows busy with it, and once the job
// ends, done, and the longest of the job's attempts.
func TestTimelineInBrowser(t *testing.T) {
	chrome := chromium(t)
	p, line := start(t, "park server ready at ", "parkserver", "-listen", "127.0.0.1:0", "-store", t.TempDir(), "-http", "127.0.0.1:0")
	url := strings.TrimPrefix(line, "park server ready at ")
	dash := strings.TrimPrefix(waitLine(t, p, "dashboard at "), "dashboard at ")
	chaosWorkmen(t, url, 2, "-type", "echo", "-capacity", "2")
	f, ws := dialForeman(t, url, 2, "echo")
	const slow = 5
	tasks := splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		for i := range 12 {
			w := warehouse.New()
			w.SetInt64("sleep_ms", map[bool]int64{true: 6000, false: 50}[i == slow])
			if err := emit(w); err != nil {
				return err
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ids := make(chan string, 1)
	var once sync.Once
	runDone := make(chan error, 1)
	go func() {
		_, err := f.Run(ctx, ws, tasks, combiner.Func(func(acc, _ *warehouse.Warehouse) (*warehouse.Warehouse, error) { return acc, nil }),
			foreman.JobName("timeline"), foreman.NoBackups(),
			foreman.OnProgress(func(p foreman.Progress) { once.Do(func() { ids <- p.JobID }) }))
		runDone <- err
	}()
	bctx := browser(t, ctx, chrome)
	job := <-ids
	if _, err := chromedp.Run(bctx, chromedp.Navigate(dash+"#job="+job)); err != nil {
		t.Fatal(err)
	}
	type bar struct {
		Class  string  `json:"class"`
		Worker string  `json:"worker"`
		Width  float64 `json:"width"`
		Widest float64 `json:"widest"` // of the other bars
	}
	read := `(() => {
  const r = document.querySelector('#timeline rect[data-task="` + strconv.Itoa(slow) + `"]');
  const others = [...document.querySelectorAll('#timeline rect:not([data-task="` + strconv.Itoa(slow) + `"])')].map((o) => +o.getAttribute("width"));
  return r ? {class: r.getAttribute("class"), worker: r.dataset.worker, width: +r.getAttribute("width"), widest: Math.max(0, ...others)} : {};
})()`
	var b bar
	untilBar := func(what string, ok func(bar) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var err error
			if b, err = chromedp.Run(bctx, chromedp.Evaluate[bar](read)); err != nil {
				t.Fatal(err)
			}
			if ok(b) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the timeline never showed %s; task %d's bar: %+v", what, slow, b)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	untilBar("the slow task running", func(b bar) bool { return b.Class == "tl-running" })
	// From outside: the registry says which workman is busy with it, the
	// only task left.
	var busy string
	deadline := time.Now().Add(30 * time.Second)
	for busy == "" {
		out, stderr, err := runCmd(t, "fourinone", "-park", url, "-o", "json", "workers")
		if err != nil {
			t.Fatalf("fourinone workers: %v: %s", err, stderr)
		}
		var wk []registry.MemberView
		if err := json.Unmarshal([]byte(out), &wk); err != nil {
			t.Fatal(err)
		}
		if len(wk) == 2 && wk[0].Busy+wk[1].Busy == 1 {
			busy = map[bool]string{true: wk[0].ID, false: wk[1].ID}[wk[0].Busy == 1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry never showed one workman busy with the slow task: %s", out)
		}
	}
	if b.Worker != busy {
		t.Fatalf("the slow task is on %s's lane; the registry shows %s busy with it", b.Worker, busy)
	}
	screenshot(t, bctx, "FOURINONE_TIMELINE_SCREENSHOT")
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
	untilBar("the slow task done, the longest attempt", func(b bar) bool {
		return b.Class == "tl-done" && b.Worker == busy && b.Width > 10*b.Widest
	})
	// fourinone says so too: the slowest attempt first.
	out, stderr, err := runCmd(t, "fourinone", "-park", url, "job", job, "-timeline")
	if err != nil {
		t.Fatalf("fourinone job -timeline: %v: %s", err, stderr)
	}
	t.Logf("fourinone job %s -timeline:\n%s", job, out)
	if !regexp.MustCompile(`slowest attempts:\n.*\n` + strconv.Itoa(slow) + `\s+` + busy + `\s+\d\s+6\.\d+s\s+\S+\s+done\s+first\n`).MatchString(out) {
		t.Fatalf("fourinone job -timeline does not list task %d on %s first, done in 6 s:\n%s", slow, busy, out)
	}
}
