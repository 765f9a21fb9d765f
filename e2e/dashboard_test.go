package e2e

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/splitter"
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
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.WindowSize(1500, 1000), chromedp.Flag("disable-dev-shm-usage", true))
	actx, stopAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer stopAlloc()
	bctx, stopBrowser := chromedp.NewContext(actx)
	defer stopBrowser()
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
	if shot := os.Getenv("FOURINONE_SCREENSHOT"); shot != "" {
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
