package foreman

import (
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
)

// TestTimelineKeeps: a timeline of 100 keeps the last 100 attempts of
// 10,000 and a sample of 10 of the others, each ended as it was, in the
// order they started.
func TestTimelineKeeps(t *testing.T) {
	start := time.Now()
	tl := newTimeline(100, start)
	w := &worker{w: &Workman{ID: "w1"}}
	for n := range 10000 {
		a := &attempt{t: &task{n: n}, w: w, start: start.Add(time.Duration(n) * time.Millisecond)}
		rec := tl.begin(a, a.start, registry.First)
		if n%3 != 0 {
			tl.end(rec, a.start.Add(time.Microsecond), registry.Succeeded)
		}
	}
	got, err := registry.DecodeTimeline(tl.encode(&registry.Job{ID: "j", Foreman: "f"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Recorded != 10000 || len(got.Attempts) != 110 || len(got.Workers) != 1 || got.Workers[0] != "w1" {
		t.Fatalf("recorded %d, %d attempts kept, workers %v; want 10000, 110 and w1", got.Recorded, len(got.Attempts), got.Workers)
	}
	for i, a := range got.Attempts {
		if i > 0 && a.Started <= got.Attempts[i-1].Started {
			t.Fatalf("attempt %d (task %d) started before the one before it", i, a.Task)
		}
		if i >= 10 && a.Task != 9900+i-10 || i < 10 && a.Task >= 9900 {
			t.Fatalf("attempt %d is task %d: want a sample of 10 of tasks 0-9899, then 9900-9999", i, a.Task)
		}
		if ended := a.Outcome == registry.Succeeded; ended != (a.Task%3 != 0) {
			t.Fatalf("task %d: outcome %s", a.Task, a.Outcome)
		}
	}
	if tl.encode(&registry.Job{ID: "j", Foreman: "f"}) != nil {
		t.Fatal("an unchanged timeline encoded again")
	}
}
