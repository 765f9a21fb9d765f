package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"go.uber.org/goleak"
)

// Off a terminal: nothing for a job shorter than the interval, else a line
// each interval of the job's time and one at its end.
func TestLines(t *testing.T) {
	var b bytes.Buffer
	report := New(&b, false, time.Second)
	p := foreman.Progress{Name: "count", Total: 10}
	for i, at := range []time.Duration{0, 400 * time.Millisecond, 900 * time.Millisecond} {
		p.Done, p.Elapsed = i, at
		report(p)
	}
	if b.Len() != 0 {
		t.Fatalf("a job under a second printed %q", b.String())
	}
	p.Done, p.Elapsed, p.Rate, p.ETA, p.Running = 4, 1100*time.Millisecond, 3.5, 2*time.Second, 2
	report(p)
	p.Elapsed = 1500 * time.Millisecond
	report(p)
	p.Done, p.Elapsed, p.Final, p.Running, p.Reassigned = 10, 2500*time.Millisecond, true, 0, 1
	report(p)
	want := "count: 4/10 tasks done, 2 running, 3.5 tasks/s, 0.0 MB/s moved, 1s, 2s left\n" +
		"count: 10/10 tasks done, 0 running, 3.5 tasks/s, 0.0 MB/s moved, 3s (ended); 0 failed, 0 retried, 1 reassigned\n"
	if b.String() != want {
		t.Fatalf("lines:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	short := New(&b, false, time.Second)
	short(foreman.Progress{Name: "x", Final: true, Elapsed: 300 * time.Millisecond})
	if b.Len() != 0 {
		t.Fatalf("a short job's end printed %q", b.String())
	}
}

// On a terminal: a spinner until the total is known, then a bar, cleared
// at the end.
func TestBar(t *testing.T) {
	var b bytes.Buffer
	report := New(&b, true, time.Second)
	report(foreman.Progress{Name: "count", Split: 3})
	report(foreman.Progress{Name: "count", Total: 4, Done: 2, Elapsed: time.Second})
	report(foreman.Progress{Name: "count", Total: 4, Done: 4, Elapsed: 2 * time.Second, Final: true})
	out := b.String()
	if !strings.Contains(out, "(0/-,") || !strings.Contains(out, "50% |") || !strings.Contains(out, "(2/4,") {
		t.Fatalf("the bar never showed a spinner then 2 of 4: %q", out)
	}
	parts := strings.Split(strings.TrimRight(out, "\r"), "\r")
	if last := parts[len(parts)-1]; strings.TrimSpace(last) != "" {
		t.Fatalf("the bar was not cleared at the end: %q", last)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
