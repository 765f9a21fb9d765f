package foreman

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// ErrJobCancelled is the cause of a job stopped by a cancel sent to the
// park (`fourinone cancel JOB`).
var ErrJobCancelled = errors.New("foreman: job cancelled through the park")

// Progress is how far a job is: what Run reports to an OnProgress function
// and writes to the park, where the dashboard and `fourinone jobs` show it.
type Progress struct {
	JobID string
	Name  string
	// Total is the job's number of tasks once known: from a splitter.Sized
	// Splitter, else once the split has ended; 0 until then.
	Total int
	// Split counts the tasks taken from the Splitter so far; Done those
	// whose result is combined; Running the attempts in flight; Failed the
	// tasks that failed for good (with ContinueOnError); Retried,
	// Reassigned and Backups the extra attempts of each kind.
	Split, Done, Running, Failed, Retried, Reassigned, Backups int
	// BytesOut is the size of the tasks sent, BytesIn of the results
	// received.
	BytesOut, BytesIn int64
	// Rate is tasks done per second over the last few seconds; ETA the time
	// left at that rate, if Total is known (else 0).
	Rate    float64
	ETA     time.Duration
	Elapsed time.Duration
	// Final is set on the last report, when Run returns.
	Final bool
}

// JobName names the job a Run runs, on the dashboard and in `fourinone
// jobs`; the default is the program's name. A name is any text of at most
// registry.MaxJobName (256) bytes; a longer one is cut.
func JobName(name string) RunOption { return func(c *runConfig) { c.name = name } }

// ShowAfter writes the job to the park (the dashboard, `fourinone jobs`)
// only once it has run d: a job that ends sooner is not shown. The job
// center's contractors run each Work's job so (the Work's record shows
// it): a stored message per Work was a fifth of what a short Work cost
// the park.
func ShowAfter(d time.Duration) RunOption { return func(c *runConfig) { c.showAfter = d } }

// OnProgress makes Run call fn with the job's progress about five times a
// second while it runs, and once more, Final, when it ends. fn runs on
// Run's own goroutine: it must return quickly.
func OnProgress(fn func(Progress)) RunOption { return func(c *runConfig) { c.progress = fn } }

// Report intervals: to the OnProgress function and to the park.
const (
	progressEvery = 200 * time.Millisecond
	publishEvery  = time.Second
	// timelineEvery is how often a job shown on the park writes its
	// timeline: a straggler shows within a second.
	timelineEvery = 500 * time.Millisecond
	rateWindow    = 5 * time.Second
)

// jobTrack is a Run's job as the park sees it.
type jobTrack struct {
	r        *run
	rec      registry.Job
	size     func() int // the Splitter's estimate, if it has one
	bytesOut int64
	bytesIn  int64
	done     int
	samples  []sample // done over time, for the rate
	lastProg time.Time
	lastPub  time.Time
	lastTL   time.Time // when the timeline was written
}

type sample struct {
	at   time.Time
	done int
}

// startJob registers a Run's job: written to the park as running, and
// cancelled (with ErrJobCancelled) when a cancel for it arrives.
func (r *run) startJob(s splitter.Splitter, cancel context.CancelCauseFunc) {
	name := r.cfg.name
	if name == "" {
		name = filepath.Base(os.Args[0])
	}
	name = registry.Clip(name, registry.MaxJobName) // the park refuses a longer one
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	now := time.Now().UTC()
	j := &jobTrack{r: r, rec: registry.Job{ID: id.String(), Name: name, Foreman: r.f.cfg.ID, Host: r.f.self.Host,
		PID: r.f.self.PID, State: registry.JobRunning, Started: now}}
	if sz, ok := s.(splitter.Sized); ok {
		j.size = sz.Size
	}
	r.job = j
	r.f.addJob(j.rec.ID, cancel)
	r.f.log.Info("job started", zap.String("job", j.rec.ID), zap.String("name", name), zap.Int("workers", len(r.workers)))
	j.lastPub = now // the park hears of the job once it has run publishEvery
	j.report(now, false)
}

// endJob writes the job's last state: done, failed or cancelled.
func (r *run) endJob(err error) {
	j := r.job
	r.f.dropJob(j.rec.ID)
	switch {
	case err == nil:
		j.rec.State = registry.JobDone
	case errors.Is(err, context.Canceled) || errors.Is(err, ErrJobCancelled):
		j.rec.State, j.rec.Error = registry.JobCancelled, registry.Clip(err.Error(), registry.MaxJobError)
	default:
		j.rec.State, j.rec.Error = registry.JobFailed, registry.Clip(err.Error(), registry.MaxJobError)
	}
	if jerr := (*JobError)(nil); errors.As(err, &jerr) {
		j.rec.State = registry.JobDone // the others' results are in
	}
	r.f.metrics.JobEnded(j.rec.State)
	now := time.Now()
	j.rec.Finished = now.UTC()
	j.report(now, true)
	log := r.f.log.Info
	if j.rec.State == registry.JobFailed {
		log = r.f.log.Warn
	}
	log("job finished", zap.String("job", j.rec.ID), zap.String("state", j.rec.State),
		zap.Duration("took", now.Sub(j.rec.Started)), zap.Int("tasks", j.done), zap.String("error", j.rec.Error))
}

// tick reports the job's progress if it is time to.
func (j *jobTrack) tick(now time.Time) {
	if now.Sub(j.lastProg) >= progressEvery {
		j.report(now, false)
	}
}

// report gives the progress to the OnProgress function and, once a second
// from the job's first second on and at its end, to the park: a job
// shorter than a second is written once (a job center's Works are
// mostly that), and no write waits for the park (a write made while it
// is unreachable goes when the connection is back).
func (j *jobTrack) report(now time.Time, final bool) {
	r := j.r
	j.samples = append(j.samples, sample{now, j.done})
	for len(j.samples) > 2 && now.Sub(j.samples[1].at) >= rateWindow {
		j.samples = j.samples[1:]
	}
	split := int(r.split.Load())
	p := Progress{JobID: j.rec.ID, Name: j.rec.Name, Split: split, Done: j.done, Failed: len(r.failed),
		Retried: r.stats.Retried, Reassigned: r.stats.Reassigned, Backups: r.stats.Backups,
		BytesOut: j.bytesOut, BytesIn: j.bytesIn, Elapsed: now.Sub(j.rec.Started), Final: final}
	for _, w := range r.workers {
		p.Running += len(w.running)
	}
	switch {
	case !r.splitting:
		p.Total = split
	case j.size != nil:
		p.Total = max(j.size(), split)
	}
	if first := j.samples[0]; now.Sub(first.at) > 0 {
		p.Rate = float64(j.done-first.done) / now.Sub(first.at).Seconds()
	}
	if final && p.Elapsed > 0 {
		p.Rate = float64(j.done) / p.Elapsed.Seconds()
	}
	if p.Total > 0 && p.Rate > 0 && !final {
		p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
	}
	j.lastProg = now
	if r.cfg.progress != nil {
		r.cfg.progress(p)
	}
	if p.Elapsed < r.cfg.showAfter || j.lastTL.IsZero() && !final && now.Sub(j.lastPub) < publishEvery {
		return // not shown yet
	}
	if final || now.Sub(j.lastTL) >= timelineEvery {
		defer j.writeTimeline(now, final)
	}
	if !final && now.Sub(j.lastPub) < publishEvery {
		return
	}
	j.lastPub = now
	rec := &j.rec
	rec.Updated, rec.Workers = now.UTC(), r.live()
	rec.Total, rec.Split, rec.Done, rec.Running, rec.Failed = p.Total, p.Split, p.Done, p.Running, p.Failed
	rec.Retried, rec.Reassigned, rec.Backups = p.Retried, p.Reassigned, p.Backups
	rec.BytesOut, rec.BytesIn, rec.Rate, rec.ETA = p.BytesOut, p.BytesIn, p.Rate, p.ETA.Seconds()
	data, err := json.Marshal(rec)
	if err != nil {
		return
	}
	if err := r.f.nc.Publish(registry.JobSubject(r.f.cfg.ID, rec.ID), data); err != nil && final {
		r.f.log.Warn("cannot write the job's end to the park", zap.String("job", rec.ID), zap.Error(err))
	}
}

// writeTimeline writes the job's timeline to the park, if it changed.
func (j *jobTrack) writeTimeline(now time.Time, final bool) {
	j.lastTL = now
	r, rec := j.r, &j.rec
	if tl := r.tl.encode(rec); tl != nil {
		if err := r.f.nc.Publish(registry.TimelineSubject(r.f.cfg.ID, rec.ID), tl); err != nil && final {
			r.f.log.Warn("cannot write the job's timeline to the park", zap.String("job", rec.ID), zap.Error(err))
		}
	}
}

// addJob and dropJob keep the jobs the foreman runs: its registry entry
// shows them, and a cancel for one through the park calls its cancel.
// The foreman takes cancels on one subscription, made at its first job.
func (f *Foreman) addJob(id string, cancel context.CancelCauseFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, id)
	f.cancels[id] = cancel
	if f.cancelSub != nil || f.closed {
		return
	}
	sub, err := f.nc.Subscribe(registry.JobCancelSubject(f.cfg.ID, "*"), f.cancelJob)
	if err != nil {
		f.log.Warn("cannot take cancels of jobs", zap.Error(err))
		return
	}
	f.cancelSub = sub
}

func (f *Foreman) dropJob(id string) {
	f.mu.Lock()
	f.jobs = slices.DeleteFunc(f.jobs, func(j string) bool { return j == id })
	delete(f.cancels, id)
	f.mu.Unlock()
}

// cancelJob takes a cancel sent through the park: "ok" and the job
// stops, or an error if it does not run here.
func (f *Foreman) cancelJob(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	f.mu.Lock()
	cancel := f.cancels[id]
	f.mu.Unlock()
	if cancel == nil {
		_ = m.Respond([]byte("error: no such job runs here"))
		return
	}
	f.log.Info("job cancelled through the park", zap.String("job", id))
	_ = m.Respond([]byte("ok"))
	cancel(ErrJobCancelled)
}

// state is the foreman's registry entry as of now: busy with its jobs.
func (f *Foreman) state() registry.Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.self
	if len(f.jobs) > 0 {
		m.State, m.Jobs = registry.StateBusy, slices.Clone(f.jobs)
	}
	return m
}
