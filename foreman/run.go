package foreman

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/tracing"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// Causes of a cancelled attempt; they decide what happens to its task.
var (
	errWorkerLost  = errors.New("worker lost")
	errDuplicate   = errors.New("another attempt finished the task")
	errTaskTimeout = errors.New("task timeout")
	errUnreachable = errors.New("unreachable")
	errClaimLost   = errors.New("claim lost: another foreman holds the worker's slots")
)

// JobError reports the tasks that failed in a Run with ContinueOnError;
// the Run's result holds the combined results of the others.
type JobError struct {
	Failed []*TaskError // in the order they failed
}

func (e *JobError) Error() string {
	return fmt.Sprintf("foreman: %d tasks failed; the first: %v", len(e.Failed), e.Failed[0])
}

// Unwrap returns the task errors.
func (e *JobError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, te := range e.Failed {
		errs[i] = te
	}
	return errs
}

// RunOption configures one Run.
type RunOption func(*runConfig)

type runConfig struct {
	retries     int
	keepGoing   bool
	taskTimeout time.Duration
	jobTimeout  time.Duration
	stopWhen    func(*warehouse.Warehouse) bool
	join        bool
	backups     bool
	maxAttempts int
	stats       *RunStats
	name        string
	progress    func(Progress)
	showAfter   time.Duration
	codec       codec.Codec
	timeline    int // attempts kept for the job's timeline
	traceTasks  int // attempts given a span of their own
	// fold, if set, takes each result with its task's number instead of
	// the Combiner (Map); StopJob from it ends the job.
	fold func(n int, result *warehouse.Warehouse) error
}

// RunStats counts what a Run did besides running each task once.
type RunStats struct {
	Tasks       int // tasks taken from the Splitter
	Reassigned  int // attempts lost with their worker or timed out, then run again
	Retried     int // exceptions retried
	Backups     int // backup copies of stragglers started
	Duplicates  int // results dropped because another attempt won
	ParkWaits   int // hub-mode attempts cut by this foreman's park link going down, run again once it was back (a task at most 10 times)
	Busy        int // attempts a worker refused with its request budget full, run again later
	LostWorkers int // workers found lost
	Joined      int // workers claimed while the job ran
}

// Stats makes Run fill in s when it returns.
func Stats(s *RunStats) RunOption { return func(c *runConfig) { c.stats = s } }

// Retries retries a task whose worker returned an error or panicked up to
// n times (default 0: such errors are usually deterministic).
func Retries(n int) RunOption { return func(c *runConfig) { c.retries = n } }

// ContinueOnError lets the job go on past tasks that fail for good; Run
// then returns the combined result of the others and a *JobError listing
// the failed ones.
func ContinueOnError() RunOption { return func(c *runConfig) { c.keepGoing = true } }

// TaskTimeout bounds one attempt of a task; an attempt past it is
// cancelled on its worker and the task goes to another worker.
func TaskTimeout(d time.Duration) RunOption { return func(c *runConfig) { c.taskTimeout = d } }

// JobTimeout bounds the whole job, like a deadline on Run's context.
func JobTimeout(d time.Duration) RunOption { return func(c *runConfig) { c.jobTimeout = d } }

// StopWhen ends the job early, successfully, at the first result for which
// pred is true (after combining it); running tasks are cancelled.
func StopWhen(pred func(result *warehouse.Warehouse) bool) RunOption {
	return func(c *runConfig) { c.stopWhen = pred }
}

// NoJoin keeps the job to the workers given to Run. By default Run also
// claims workers of the same types that join the registry while it runs,
// and releases them when it ends.
func NoJoin() RunOption { return func(c *runConfig) { c.join = false } }

// NoBackups turns off backup copies of straggling tasks.
func NoBackups() RunOption { return func(c *runConfig) { c.backups = false } }

// MaxAttempts is how often a task may be lost with its worker (a dropped
// connection, an expired lease, a task timeout) before the job fails; the
// default is 5.
func MaxAttempts(n int) RunOption { return func(c *runConfig) { c.maxAttempts = n } }

// Run runs a job on the claimed workers ws: it splits the job with s,
// keeps each worker busy with up to its Slots tasks at a time (more tasks
// than workers is normal: the next task goes to the first free slot), and
// folds every result into one Warehouse with c, as results arrive. Tasks
// are taken from the Splitter only as slots free up, so the foreman holds
// only the tasks in flight, whatever the job's size.
//
// Failures:
//   - A worker that is lost (its connection drops, nobody serves its
//     subject in mesh mode, or its lease expires while it sends nothing,
//     or it answers that it is shutting down) has its running
//     tasks moved to other workers; a task that passes TaskTimeout moves
//     too. A task lost MaxAttempts times fails the job. Hub-mode workers
//     whose park link is down are paused, not lost, until it is back.
//   - Near the end of the job, when a slot is idle, a task running much
//     longer than the median task (3x, and at least 100ms) gets one backup
//     copy on another worker. The first result wins; the other attempt is
//     cancelled and its result, if any, dropped.
//   - A task whose worker returns an error or panics is retried Retries
//     times, then fails the job with a *TaskError naming the task and
//     carrying the worker's message (or, with ContinueOnError, is reported
//     in a *JobError at the end).
//
// Every task's result reaches c exactly once. Cancelling ctx cancels the
// running tasks on their workers.
func (f *Foreman) Run(ctx context.Context, ws []*Workman, s splitter.Splitter, c combiner.Combiner, opts ...RunOption) (*warehouse.Warehouse, error) {
	cfg := runConfig{join: true, backups: true, maxAttempts: 5, timeline: DefaultTimeline, traceTasks: DefaultTraceTasks}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.jobTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.jobTimeout)
		defer cancel()
	}
	if len(ws) == 0 {
		return nil, ErrNoWorkers
	}
	r := &run{f: f, cfg: cfg, comb: c, acc: warehouse.New(), tasks: make(map[int]*task)}
	types := make(map[string]bool)
	for _, w := range ws {
		r.add(w, false)
		types[w.Type] = true
	}
	return r.run(ctx, s, types)
}

// task is one task of a job, from the Splitter until its result is in.
type task struct {
	n          int
	body       []byte
	running    []*attempt
	lost       int // attempts lost with their worker
	parkWaits  int // attempts cut by the park link (hub mode)
	exceptions int
	done       bool
	queued     time.Time     // since when it waits for its next attempt
	kind       registry.Kind // what its next attempt is
}

// attempt is one try of a task on one worker.
type attempt struct {
	t     *task
	w     *worker
	p     wire.Pending
	timer *time.Timer // TaskTimeout, if set
	start time.Time
	sent  bool        // it went to its worker (see run.send)
	cause error       // why it was cancelled before it went
	slot  int         // of its worker, for the timeline
	rec   int         // its number in the timeline
	span  trace.Span  // if traced
	hdr   nats.Header // its trace context, sent with its task
}

// cancel ends the attempt: its outcome comes back with cause.
func (a *attempt) cancel(cause error) {
	if !a.sent {
		if a.cause == nil {
			a.cause = cause
		}
		return
	}
	a.p.Cancel(cause)
}

type worker struct {
	w           *Workman
	free        int
	dead        bool
	paused      bool      // no new tasks: the park link is down (hub mode), or the worker was busy
	resumeAt    time.Time // if set, when a busy worker takes tasks again; else when the park link is back
	pauseLogged bool      // the pause was logged; reset when the worker answers
	joined      bool      // claimed by the run: released at its end
	running     []*attempt
	unsent      []*attempt // attempts dispatched in this turn of the loop, sent at its end
	slots       []bool     // slots in use, for the timeline
	lastHeard   time.Time
}

type outcome struct {
	a    *attempt
	out  *warehouse.Warehouse
	size int // of the encoded result
	err  error
}

// run is one job's scheduler. Its fields belong to the loop goroutine.
type run struct {
	f       *Foreman
	cfg     runConfig
	comb    combiner.Combiner
	acc     *warehouse.Warehouse
	workers []*worker
	next    int           // round-robin position in workers
	tasks   map[int]*task // tasks not done
	retry   []*task       // tasks waiting for a slot again
	took    []time.Duration
	failed  []*TaskError
	emitted int
	stats   RunStats
	job     *jobTrack
	tl      *timeline
	span    trace.Span      // the job's
	spanCtx context.Context // holds span
	traced  int             // first attempts given spans
	// splitting is set until the Splitter has emitted its last task;
	// split counts the tasks it emitted.
	splitting bool
	split     atomic.Int64

	mu     sync.Mutex // guards inbox
	inbox  []outcome  // outcomes not yet handled, delivered by reply callbacks
	notify chan struct{}
	wg     sync.WaitGroup // the splitter and monitor goroutines
}

// deliver queues an outcome for the loop; it never blocks, since reply
// callbacks run on a connection's subscription goroutine.
func (r *run) deliver(o outcome) {
	r.mu.Lock()
	r.inbox = append(r.inbox, o)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *run) add(w *Workman, joined bool) {
	r.workers = append(r.workers, &worker{w: w, free: max(w.Slots, 1), joined: joined, lastHeard: time.Now()})
}

func (r *run) run(ctx context.Context, s splitter.Splitter, types map[string]bool) (_ *warehouse.Warehouse, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	r.notify = make(chan struct{}, 1)
	r.splitting = true
	r.startJob(s, cancel)
	r.tl = newTimeline(r.cfg.timeline, r.job.rec.Started)
	r.spanCtx, r.span = tracing.Tracer().Start(ctx, "job "+r.job.rec.Name, trace.WithAttributes(
		attribute.String("fourinone.job.id", r.job.rec.ID), attribute.String("fourinone.job.name", r.job.rec.Name),
		attribute.String("fourinone.foreman", r.f.cfg.ID), attribute.Int("fourinone.workers", len(r.workers))))
	// The splitter runs ahead of the slots by at most one task per slot:
	// memory stays bounded and the hand-over rarely waits.
	slots := 0
	for _, w := range r.workers {
		slots += w.free
	}
	newTasks := make(chan *task, slots)
	splitDone := make(chan error, 1)
	snaps := make(chan *registry.Snapshot)
	joins := make(chan []*Workman)

	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		splitDone <- s.Split(ctx, func(w *warehouse.Warehouse) error {
			body, err := w.MarshalBinary()
			if err != nil {
				return err
			}
			if len(body) > r.f.cfg.MaxWarehouseSize {
				return &warehouse.SizeError{Size: int64(len(body)), Limit: int64(r.f.cfg.MaxWarehouseSize)}
			}
			select {
			case newTasks <- &task{body: body, queued: time.Now()}:
				r.split.Add(1)
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()
	// The monitor starts after its first interval: most jobs of a job
	// center are done before, and need neither its goroutine nor its
	// ticker.
	monitorSoon := time.AfterFunc(r.f.reg.HeartbeatInterval(), func() {
		defer r.wg.Done()
		r.monitor(ctx, types, snaps, joins)
	})
	defer func() {
		// Stop everything this run started and wait for it; then give back
		// the workers it claimed on its own.
		over := errors.New("job over")
		cancel(over)
		if monitorSoon.Stop() {
			r.wg.Done() // it never started
		}
		now := time.Now()
		for _, t := range r.tasks {
			for _, a := range slices.Clone(t.running) {
				if a.timer != nil {
					a.timer.Stop()
				}
				a.cancel(over)
				r.tl.end(a.rec, now, registry.Dropped)
				endSpan(a, registry.Dropped, over)
			}
		}
		r.span.SetAttributes(attribute.Int("fourinone.tasks", r.emitted))
		if err != nil {
			r.span.SetStatus(codes.Error, err.Error())
		}
		r.span.End()
		r.wg.Wait()
		r.stats.Tasks = r.emitted
		if r.cfg.stats != nil {
			*r.cfg.stats = r.stats
		}
		var joined []*Workman
		for _, w := range r.workers {
			if w.joined {
				joined = append(joined, w.w)
			}
		}
		r.f.Release(context.Background(), joined...)
		r.endJob(err)
	}()

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var noWorkersSince time.Time
	// Tasks still in newTasks after the split ended are part of the job.
	for r.splitting || len(newTasks) > 0 || len(r.tasks) > 0 {
		var in chan *task
		if len(r.retry) == 0 && r.hasFree() {
			in = newTasks
		}
		select {
		case t := <-in:
			r.accept(t)
		case err := <-splitDone:
			r.splitting = false
			if err != nil {
				return nil, fmt.Errorf("foreman: split after %d tasks: %w", r.emitted, err)
			}
		case <-r.notify:
			r.mu.Lock()
			batch := r.inbox
			r.inbox = nil
			r.mu.Unlock()
			for _, o := range batch {
				stop, err := r.handle(o)
				if err != nil {
					return nil, err
				}
				if stop {
					return r.acc, nil
				}
			}
		case snap := <-snaps:
			r.checkLiveness(snap)
		case ws := <-joins:
			for _, w := range ws {
				r.join(w)
			}
		case now := <-tick.C:
			r.resume()
			if !r.splitting && len(newTasks) == 0 && len(r.retry) == 0 {
				r.backup()
			}
			r.job.tick(now)
		case <-ctx.Done():
			return nil, fmt.Errorf("foreman: job stopped with %d tasks unfinished: %w", len(r.tasks), context.Cause(ctx))
		}
		for len(r.retry) > 0 && r.hasFree() {
			t := r.retry[0]
			r.retry = r.retry[1:]
			if !t.done {
				r.dispatch(t, nil)
			}
		}
		// Tasks ready now go with those dispatched above.
		for ready := true; ready && len(r.retry) == 0 && r.hasFree(); {
			select {
			case t := <-newTasks:
				r.accept(t)
			default:
				ready = false
			}
		}
		r.send()
		if r.live() > 0 {
			noWorkersSince = time.Time{}
		} else if noWorkersSince.IsZero() {
			noWorkersSince = time.Now()
		} else if !r.cfg.join || time.Since(noWorkersSince) > 2*r.f.reg.Lease() {
			return nil, fmt.Errorf("%w: every worker of the job is lost, %d tasks unfinished", ErrNoWorkers, len(r.tasks))
		}
	}
	if len(r.failed) > 0 {
		return r.acc, &JobError{Failed: r.failed}
	}
	return r.acc, nil
}

// accept numbers a new task from the Splitter and dispatches it.
func (r *run) accept(t *task) {
	t.n = r.emitted
	r.emitted++
	r.tasks[t.n] = t
	r.dispatch(t, nil)
}

// join adds a worker claimed while the job runs. A worker the job had
// before (lost, then claimed again) comes back as itself, with the slots
// claimed now, not as a second worker.
func (r *run) join(w *Workman) {
	r.stats.Joined++
	for _, old := range r.workers {
		if old.w.ID == w.ID {
			r.f.log.Info("worker rejoined the job", zap.String("worker", w.ID), zap.Int("slots", w.Slots))
			old.w, old.joined, old.dead, old.paused = w, true, false, false
			old.free = max(w.Slots, 1) - len(old.running)
			old.lastHeard = time.Now()
			return
		}
	}
	r.f.log.Info("worker joined the job", zap.String("worker", w.ID))
	r.add(w, true)
}

func (r *run) live() int {
	n := 0
	for _, w := range r.workers {
		if !w.dead {
			n++
		}
	}
	return n
}

func (r *run) hasFree() bool {
	for _, w := range r.workers {
		if w.free > 0 && !w.dead {
			return true
		}
	}
	return false
}

// pick returns the next worker with a free slot, round robin, other than
// not; nil if there is none.
func (r *run) pick(not *worker) *worker {
	for i := range r.workers {
		w := r.workers[(r.next+i)%len(r.workers)]
		if w.free > 0 && !w.dead && w != not {
			r.next = (r.next + i + 1) % len(r.workers)
			return w
		}
	}
	return nil
}

// dispatch starts an attempt of t on a free worker other than not. The
// caller has checked that one is free.
func (r *run) dispatch(t *task, not *worker) {
	w := r.pick(not)
	for w != nil {
		// Never a task on slots this foreman does not hold.
		held, fresh := r.f.claimed(w.w.ID)
		if fresh {
			break
		}
		if !held {
			r.markDead(w, fmt.Errorf("%w: %s", errClaimLost, w.w.ID))
		} else {
			r.stale(w)
		}
		w = r.pick(not)
	}
	if w == nil {
		r.retry = append(r.retry, t)
		return
	}
	w.free--
	a := &attempt{t: t, w: w, start: time.Now(), slot: w.takeSlot()}
	kind, queued := t.kind, t.queued
	if not != nil {
		kind, queued = registry.Backup, a.start
	}
	a.rec = r.tl.begin(a, queued, kind)
	if r.span.IsRecording() && (kind != registry.First || r.traced < r.cfg.traceTasks || r.cfg.traceTasks < 0) {
		if kind == registry.First {
			r.traced++
		}
		var ctx context.Context
		ctx, a.span = tracing.Tracer().Start(r.spanCtx, "task", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.Int("fourinone.task", t.n), attribute.String("fourinone.worker", w.w.ID), attribute.Int("fourinone.slot", a.slot),
			attribute.String("fourinone.attempt", kind.String())))
		a.hdr = tracing.Inject(ctx)
	}
	t.running = append(t.running, a)
	w.running = append(w.running, a)
	w.unsent = append(w.unsent, a)
}

// takeSlot returns the first of the worker's slots not in use, and marks
// it used.
func (w *worker) takeSlot() int {
	for i, used := range w.slots {
		if !used {
			w.slots[i] = true
			return i
		}
	}
	w.slots = append(w.slots, true)
	return len(w.slots) - 1
}

// requeue puts t back in line for an attempt of kind.
func (r *run) requeue(t *task, kind registry.Kind) {
	t.queued, t.kind = time.Now(), kind
	r.retry = append(r.retry, t)
}

// send sends the attempts dispatched in this turn of the loop: those for
// one worker together, so that tasks that became ready at once share
// messages, while a lone task still goes at once.
func (r *run) send() {
	for _, w := range r.workers {
		if len(w.unsent) == 0 {
			continue
		}
		as := w.unsent[:0]
		for _, a := range w.unsent {
			a.sent = true
			if a.cause != nil { // cancelled before it went
				r.deliver(outcome{a, nil, 0, a.cause})
				continue
			}
			r.job.bytesOut += int64(len(a.t.body))
			r.f.metrics.Sent(len(a.t.body))
			as = append(as, a)
		}
		if err := w.w.startMany(as, r.deliver); err != nil {
			for _, a := range as {
				r.deliver(outcome{a, nil, 0, err})
			}
		} else if r.cfg.taskTimeout > 0 {
			for _, a := range as {
				p := a.p
				a.timer = time.AfterFunc(r.cfg.taskTimeout, func() { p.Cancel(errTaskTimeout) })
			}
		}
		clear(w.unsent)
		w.unsent = w.unsent[:0]
	}
}

func remove(as []*attempt, a *attempt) []*attempt {
	if i := slices.Index(as, a); i >= 0 {
		return slices.Delete(as, i, i+1)
	}
	return as
}

// handle takes one attempt's outcome; stop reports an early stop.
func (r *run) handle(o outcome) (stop bool, err error) {
	a, t, w := o.a, o.a.t, o.a.w
	if a.timer != nil {
		a.timer.Stop()
	}
	t.running = remove(t.running, a)
	w.running = remove(w.running, a)
	w.slots[a.slot] = false
	r.job.bytesIn += int64(o.size)
	if r.tl != nil || a.span != nil {
		oc := outcomeOf(o, t)
		r.tl.end(a.rec, time.Now(), oc)
		endSpan(a, oc, o.err)
	}
	if !w.dead && !w.paused {
		w.free++
	}
	var te *TaskError
	if o.err == nil || errors.As(o.err, &te) || errors.Is(o.err, ErrBusy) {
		w.lastHeard, w.pauseLogged = time.Now(), false
	}
	if t.done {
		if o.err == nil {
			r.stats.Duplicates++ // a late duplicate: the task's result is in already
		}
		return false, nil
	}
	switch {
	case o.err == nil:
		took := time.Since(a.start)
		r.f.metrics.Attempt("done", took, o.size)
		r.finish(t, errDuplicate)
		r.took = append(r.took, took)
		if len(r.took) > 256 {
			r.took = r.took[len(r.took)-128:]
		}
		if r.cfg.fold != nil {
			err = r.cfg.fold(t.n, o.out)
		} else {
			r.acc, err = r.comb.Combine(r.acc, o.out)
		}
		r.job.done++
		if errors.Is(err, StopJob) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("foreman: combine the result of task %d: %w", t.n, err)
		}
		return r.cfg.stopWhen != nil && r.cfg.stopWhen(o.out), nil
	case te != nil:
		r.f.metrics.Attempt("exception", 0, o.size)
		if len(t.running) > 0 {
			return false, nil // another attempt may still succeed
		}
		t.exceptions++
		switch {
		case t.exceptions <= r.cfg.retries:
			r.f.log.Info("retrying a task", zap.Int("task", t.n), zap.String("error", te.Msg))
			r.requeue(t, registry.Retry)
			r.stats.Retried++
			r.f.metrics.Rerun("retry")
		case r.cfg.keepGoing:
			r.finish(t, errDuplicate)
			r.failed = append(r.failed, te)
		default:
			return false, te
		}
	case errors.Is(o.err, ErrBusy):
		// A full slot, not a failure: the worker takes no more for a while,
		// and the task goes elsewhere or waits.
		r.f.metrics.Attempt("busy", 0, 0)
		r.hold(w, busyBackoff)
		if len(t.running) == 0 {
			r.requeue(t, registry.Reassign)
		}
		r.stats.Busy++
	case permanent(o.err):
		r.f.metrics.Attempt("lost", 0, 0)
		return false, o.err
	default: // the attempt was lost with its worker, or timed out
		r.f.metrics.Attempt("lost", 0, 0)
		if r.parkLinkDown(o.err, w) {
			// Not the worker's fault nor the task's: wait for the park.
			cut := !r.f.nc.IsConnected() || !errors.Is(o.err, wire.ErrNoResponders)
			r.pause(w, o.err)
			if len(t.running) == 0 {
				if cut { // our link was cut, not only the worker's
					t.parkWaits++
					if t.parkWaits > maxParkWaits {
						return false, fmt.Errorf("foreman: task %d cut by the park link %d times (is the park cutting this foreman off? see its log), the last: %w", t.n, t.parkWaits, o.err)
					}
					r.stats.ParkWaits++
				}
				r.requeue(t, registry.Reassign)
			}
			return false, nil
		}
		if lostWorker(o.err, w) {
			r.markDead(w, o.err)
		}
		if len(t.running) > 0 {
			return false, nil // a backup still runs
		}
		t.lost++
		if t.lost >= r.cfg.maxAttempts {
			return false, fmt.Errorf("foreman: task %d lost %d times, the last: %w", t.n, t.lost, o.err)
		}
		r.f.log.Info("reassigning a task", zap.Int("task", t.n), zap.Error(o.err))
		r.requeue(t, registry.Reassign)
		r.stats.Reassigned++
		r.f.metrics.Rerun("reassign")
	}
	return false, nil
}

// DefaultTraceTasks is how many first attempts of a traced job's tasks
// get spans of their own unless TraceTasks says otherwise.
const DefaultTraceTasks = 1000

// TraceTasks gives the first n tasks of a job that is traced (Run's
// context is in a sampled span, or the tracer samples the job's) a span
// each for their attempts, and their workers spans of their own under
// it; retries, reassignments and backups get one whatever n. n < 0 traces
// every task. Past n a job of a million tasks makes no million spans.
func TraceTasks(n int) RunOption { return func(c *runConfig) { c.traceTasks = n } }

// endSpan ends a's span, if it has one, with its outcome.
func endSpan(a *attempt, o registry.Outcome, err error) {
	if a.span == nil {
		return
	}
	a.span.SetAttributes(attribute.String("fourinone.outcome", o.String()))
	if o == registry.Exception || o == registry.Lost {
		a.span.SetStatus(codes.Error, err.Error())
	}
	a.span.End()
	a.span = nil
}

// outcomeOf is how attempt o ended, for the timeline.
func outcomeOf(o outcome, t *task) registry.Outcome {
	var te *TaskError
	switch {
	case t.done:
		return registry.Dropped // another attempt's result was taken
	case o.err == nil:
		return registry.Succeeded
	case errors.As(o.err, &te):
		return registry.Exception
	case errors.Is(o.err, ErrBusy):
		return registry.Busy
	}
	return registry.Lost
}

// finish marks t done and cancels its other attempts with cause.
func (r *run) finish(t *task, cause error) {
	t.done = true
	delete(r.tasks, t.n)
	for _, other := range t.running {
		other.cancel(cause)
	}
}

// permanent reports errors that another worker would hit too.
func permanent(err error) bool {
	var re *wire.RemoteError
	return (errors.As(err, &re) && !re.Unavailable) || errors.Is(err, warehouse.ErrTooLarge) || errors.Is(err, warehouse.ErrMalformed)
}

// parkLinkDown reports whether a hub-mode attempt failed because the
// foreman's link through the park server is down or just came back (the
// worker's own link may not be back yet: nobody serves its subject for a
// moment). Such a worker is paused, not lost; if it really died, its lease
// runs out and the registry check marks it lost.
func (r *run) parkLinkDown(err error, w *worker) bool {
	if w.w.mode != registry.ModeHub {
		return false
	}
	return errors.Is(err, wire.ErrConnectionLost) || errors.Is(err, wire.ErrNoResponders) || !r.f.nc.IsConnected()
}

// pause stops sending to a hub worker until the park link is up, saying
// once (until the worker answers again) what happened.
func (r *run) pause(w *worker, why error) {
	if !w.pauseLogged {
		w.pauseLogged = true
		if r.f.nc.IsConnected() {
			r.f.log.Warn("worker paused: nobody serves its subject on the park (it stopped, or its own park link is down); its lease decides",
				zap.String("worker", w.w.ID), zap.Error(why))
		} else {
			r.f.log.Warn("worker paused: this foreman's park link is down", zap.String("worker", w.w.ID), zap.Error(why))
		}
	}
	w.paused, w.free, w.resumeAt = true, 0, time.Time{}
	if r.f.nc.IsConnected() {
		// Nobody serves the worker's subject: try it again in a while;
		// if it does not come back, its lease runs out.
		w.resumeAt = time.Now().Add(busyBackoff)
	}
}

// maxParkWaits bounds how often one task is run again because the park
// link cut it: each real outage costs a task in flight one, so a task cut
// more often than this means a park that keeps cutting this foreman off,
// and waiting more would never end.
const maxParkWaits = 10

// stale holds a worker whose claim this foreman could not renew for a
// lease (the park is unreachable): another foreman may hold its slots now,
// so it gets no task until the claim is renewed, or found lost.
func (r *run) stale(w *worker) {
	if !w.pauseLogged {
		w.pauseLogged = true
		r.f.log.Warn("worker paused: its claim was not renewed within a lease (is the park reachable?)", zap.String("worker", w.w.ID))
	}
	r.hold(w, busyBackoff)
}

// busyBackoff is how long a worker that answered busy gets no new task.
const busyBackoff = 100 * time.Millisecond

// hold pauses a busy worker for d.
func (r *run) hold(w *worker, d time.Duration) {
	if !w.paused {
		w.resumeAt = time.Now().Add(d)
	}
	w.paused, w.free = true, 0
}

// resume gives paused workers their free slots back: busy ones once their
// time is up, the others once the park link is up.
func (r *run) resume() {
	now, linked := time.Now(), r.f.nc.IsConnected()
	for _, w := range r.workers {
		if !w.paused || w.dead {
			continue
		}
		if w.resumeAt.IsZero() && linked || !w.resumeAt.IsZero() && now.After(w.resumeAt) {
			w.paused, w.resumeAt = false, time.Time{}
			w.free = max(w.w.Slots, 1) - len(w.running)
		}
	}
}

// lostWorker reports whether err means the worker itself is gone, rather
// than the task being slow or the park connection (hub mode) dropping.
func lostWorker(err error, w *worker) bool {
	switch {
	case errors.Is(err, errWorkerLost), errors.Is(err, wire.ErrNoResponders), errors.Is(err, errUnreachable):
		return true
	case errors.As(err, new(*wire.RemoteError)):
		return true // unavailable: the worker is shutting down
	case errors.Is(err, wire.ErrConnectionLost):
		return w.w.mode != registry.ModeHub
	}
	return false
}

func (r *run) markDead(w *worker, why error) {
	if w.dead {
		return
	}
	r.f.log.Warn("worker lost", zap.String("worker", w.w.ID), zap.Error(why))
	w.dead, w.free = true, 0
	r.stats.LostWorkers++
	for _, a := range w.running {
		a.cancel(errWorkerLost)
	}
}

// checkLiveness marks lost the workers that left the registry and have
// sent nothing for a lease: a worker that still answers is alive even
// while the park server restarts with an empty registry, and a registry
// younger than a lease (its members are re-registering) decides nothing.
func (r *run) checkLiveness(snap *registry.Snapshot) {
	live := make(map[string]bool)
	for _, m := range snap.Workmen("") {
		live[m.ID] = true
	}
	for _, w := range r.workers {
		switch {
		case w.dead:
		case !r.f.holds(w.w.ID):
			r.markDead(w, fmt.Errorf("%w: %s", errClaimLost, w.w.ID))
		case !live[w.w.ID] && snap.Age > r.f.reg.Lease() && time.Since(w.lastHeard) > r.f.reg.Lease():
			r.markDead(w, fmt.Errorf("%w: %s left the registry", errWorkerLost, w.w.ID))
		}
	}
}

// backup gives the longest-running straggler a second attempt on an idle
// slot of another worker.
func (r *run) backup() {
	if !r.cfg.backups || len(r.took) == 0 || !r.hasFree() {
		return
	}
	sorted := slices.Clone(r.took)
	slices.Sort(sorted)
	threshold := max(3*sorted[len(sorted)/2], 100*time.Millisecond)
	var worst *attempt
	for _, t := range r.tasks {
		if len(t.running) != 1 {
			continue
		}
		a := t.running[0]
		if time.Since(a.start) > threshold && (worst == nil || a.start.Before(worst.start)) {
			worst = a
		}
	}
	if worst == nil {
		return
	}
	if r.pick(worst.w) != nil {
		r.f.log.Info("backup for a straggler", zap.Int("task", worst.t.n), zap.String("worker", worst.w.w.ID),
			zap.Duration("running", time.Since(worst.start)), zap.Duration("median", sorted[len(sorted)/2]))
		r.dispatch(worst.t, worst.w)
		r.stats.Backups++
		r.f.metrics.Rerun("backup")
	}
}

// monitor reads the registry now and every heartbeat interval for the
// loop's liveness checks and, unless NoJoin, claims workers of the job's
// types that joined. A park server that is down only skips a round.
func (r *run) monitor(ctx context.Context, types map[string]bool, snaps chan<- *registry.Snapshot, joins chan<- []*Workman) {
	t := time.NewTicker(r.f.reg.HeartbeatInterval())
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		sctx, cancel := context.WithTimeout(ctx, r.f.reg.HeartbeatInterval())
		snap, err := r.f.reg.Snapshot(sctx)
		var got []*Workman
		if err == nil && r.cfg.join {
			for typ := range types {
				ws, _ := r.f.GetWaitingWorkers(sctx, typ, 0)
				got = append(got, ws...)
			}
		}
		cancel()
		if err != nil {
			continue
		}
		select {
		case snaps <- snap:
		case <-ctx.Done():
			r.f.Release(context.Background(), got...)
			return
		}
		if len(got) > 0 {
			select {
			case joins <- got:
			case <-ctx.Done():
				r.f.Release(context.Background(), got...)
				return
			}
		}
	}
}
