// Package progress shows a job's progress while it runs: a progress bar on
// a terminal, a plain line every few seconds elsewhere (a log file, CI).
// Give what New returns to foreman.OnProgress.
package progress

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// LineEvery is how often a job's progress is written as a line when the
// output is not a terminal.
const LineEvery = 5 * time.Second

// Stderr returns a progress function writing to stderr: a bar if stderr
// is a terminal, else a line every LineEvery; nil if quiet.
func Stderr(quiet bool) func(foreman.Progress) {
	if quiet {
		return nil
	}
	return New(os.Stderr, term.IsTerminal(int(os.Stderr.Fd())), LineEvery)
}

// New returns a progress function writing to w: a bar if tty, else a line
// every `every` of the job's time and one at its end (a job shorter than
// that prints nothing).
func New(w io.Writer, tty bool, every time.Duration) func(foreman.Progress) {
	if tty {
		return bar(w)
	}
	next := every
	return func(p foreman.Progress) {
		if p.Elapsed < next && (!p.Final || next == every) {
			return
		}
		next = (p.Elapsed/every + 1) * every
		fmt.Fprintln(w, Line(p))
	}
}

// Line is a job's progress as one line of text.
func Line(p foreman.Progress) string {
	total := "?"
	if p.Total > 0 {
		total = fmt.Sprint(p.Total)
	}
	s := fmt.Sprintf("%s: %d/%s tasks done, %d running, %.1f tasks/s, %.1f MB/s moved, %s",
		p.Name, p.Done, total, p.Running, p.Rate, mbps(p), p.Elapsed.Round(time.Second))
	switch {
	case p.Final:
		s += " (ended)"
	case p.ETA > 0:
		s += fmt.Sprintf(", %s left", p.ETA.Round(time.Second))
	}
	if p.Failed+p.Retried+p.Reassigned > 0 {
		s += fmt.Sprintf("; %d failed, %d retried, %d reassigned", p.Failed, p.Retried, p.Reassigned)
	}
	return s
}

// mbps is the tasks' and results' bytes per second, in MB.
func mbps(p foreman.Progress) float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.BytesIn+p.BytesOut) / 1e6 / p.Elapsed.Seconds()
}

// bar draws a progress bar of tasks done, its total growing as it is
// known, and clears it when the job ends.
func bar(w io.Writer) func(foreman.Progress) {
	var b *progressbar.ProgressBar
	max := -1 // a spinner until the total is known
	return func(p foreman.Progress) {
		if b == nil || p.Total > 0 && p.Total != max {
			if b != nil && max < 0 {
				_ = b.Clear()
				b = nil
			}
			if p.Total > 0 {
				max = p.Total
			}
			if b == nil {
				b = progressbar.NewOptions(max, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(p.Name),
					progressbar.OptionShowCount(), progressbar.OptionSetItsString("tasks"), progressbar.OptionShowIts(),
					progressbar.OptionSetWidth(30), progressbar.OptionThrottle(0),
					// No spinner of its own: it would draw from a goroutine
					// of its own, for ever if the bar is dropped.
					progressbar.OptionSetSpinnerChangeInterval(0),
					progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true))
			} else {
				b.ChangeMax(max)
			}
		}
		b.Describe(fmt.Sprintf("%s %.1f MB/s", p.Name, mbps(p)))
		_ = b.Set(p.Done)
		if p.Final {
			_ = b.Finish()
		}
	}
}
