package foreman

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
)

// DefaultTimeline is how many task attempts a Run keeps for its job's
// timeline unless TimelineSize says otherwise.
const DefaultTimeline = 5000

// TimelineSize makes Run keep the last n task attempts of the job for its
// timeline (the dashboard's lanes, `fourinone job ID -timeline`): which
// worker ran which task on which slot, when, and how it ended. n <= 0
// keeps none. Of the attempts before the last n it keeps a uniform sample
// of n/10. The foreman writes the timeline to the park every half second
// once the job is shown, and at the end.
func TimelineSize(n int) RunOption { return func(c *runConfig) { c.timeline = n } }

// timeline is a Run's record of its attempts: a ring of the last ones.
type timeline struct {
	start    time.Time
	ids      []string
	index    map[*worker]int // a worker's place in ids
	ring     []registry.Attempt
	max      int                // attempts kept: attempt k is ring[k % max]
	sample   []registry.Attempt // of those before the ring's (reservoir sampling)
	recorded int                // attempts recorded in all
	changed  bool               // since the last write
}

func newTimeline(n int, start time.Time) *timeline {
	if n <= 0 {
		return nil
	}
	return &timeline{start: start, index: map[*worker]int{}, max: n, changed: true}
}

func (tl *timeline) micros(t time.Time) int64 { return max(t.Sub(tl.start).Microseconds(), 0) }

// begin records attempt a, started now after its task waited since
// queued, and returns its number.
func (tl *timeline) begin(a *attempt, queued time.Time, kind registry.Kind) int {
	if tl == nil {
		return -1
	}
	w, ok := tl.index[a.w]
	if !ok {
		w = len(tl.ids)
		tl.index[a.w] = w
		tl.ids = append(tl.ids, a.w.w.ID)
	}
	rec := registry.Attempt{Task: a.t.n, Worker: w, Slot: a.slot, Queued: tl.micros(queued), Started: tl.micros(a.start), Kind: kind}
	rec.Queued = min(rec.Queued, rec.Started)
	n := tl.recorded
	if len(tl.ring) < tl.max {
		tl.ring = append(tl.ring, rec)
	} else {
		tl.keep(tl.ring[n%tl.max])
		tl.ring[n%tl.max] = rec
	}
	tl.recorded++
	tl.changed = true
	return n
}

// keep offers an attempt pushed out of the ring to the sample: each of
// them ends up in it with the same chance.
func (tl *timeline) keep(a registry.Attempt) {
	evicted := tl.recorded - tl.max + 1 // attempt recorded-max is the one pushed out
	if size := max(tl.max/10, 1); len(tl.sample) < size {
		tl.sample = append(tl.sample, a)
	} else if k := rand.IntN(evicted); k < size {
		tl.sample[k] = a
	}
}

// end records the outcome of attempt number n, if it is still kept.
func (tl *timeline) end(n int, at time.Time, o registry.Outcome) {
	if tl == nil || n < 0 || n < tl.recorded-len(tl.ring) {
		return
	}
	rec := &tl.ring[n%tl.max]
	rec.Finished, rec.Outcome = max(tl.micros(at), rec.Started), o
	tl.changed = true
}

// encode returns the timeline as the park keeps it, its oldest attempts
// left out as far as needed to fit registry.MaxTimeline; nil if nothing
// changed since the last.
func (tl *timeline) encode(job *registry.Job) []byte {
	if tl == nil || !tl.changed {
		return nil
	}
	tl.changed = false
	// The sample by start, then the ring in order, the oldest first.
	as := make([]registry.Attempt, 0, len(tl.sample)+len(tl.ring))
	as = append(as, tl.sample...)
	slices.SortFunc(as, func(a, b registry.Attempt) int { return cmp.Compare(a.Started, b.Started) })
	if k := tl.recorded % tl.max; tl.recorded > tl.max {
		as = append(append(as, tl.ring[k:]...), tl.ring[:k]...)
	} else {
		as = append(as, tl.ring...)
	}
	for {
		t := registry.Timeline{Job: job.ID, Foreman: job.Foreman, Start: tl.start.UTC(), Workers: tl.ids,
			Recorded: tl.recorded, Attempts: as}
		data, err := t.Encode()
		if err != nil {
			return nil
		}
		if len(data) <= registry.MaxTimeline {
			return data
		}
		as = as[len(as)/2:]
	}
}
