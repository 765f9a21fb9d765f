package jobcenter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/streams"
	"github.com/fourinone-go/fourinone/internal/tracing"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// Definition is what a contractor needs to run Works of one type: which
// workers, and how to build the job from a Work's input. A contractor keeps
// no state of its own: the Work's record on the park is the truth.
type Definition struct {
	// Type is the Work type.
	Type string
	// WorkerType is the type of the workers to claim; if blank, Type.
	WorkerType string
	// Workers is how many workers a Work wants; it runs with those it gets
	// within ContractorConfig.WorkerWait, at least one. If 0, 1.
	Workers int
	// Job builds a Work's Splitter and Combiner from its input.
	Job func(ctx context.Context, in *warehouse.Warehouse) (splitter.Splitter, combiner.Combiner, error)
	// RunOptions are passed to Foreman.Run.
	RunOptions []foreman.RunOption
}

// ContractorConfig configures a Contractor.
type ContractorConfig struct {
	// ID names the contractor (letters, digits, '-' and '_', at most 128);
	// if blank, a UUID.
	ID string
	// Concurrency is how many Works it runs at once; if 0, 1.
	Concurrency int
	// Lease is how long a running Work stays the contractor's after its
	// last sign of life (it renews the lease every Lease/3 while it runs);
	// then another contractor takes it over. If 0, 30 s.
	Lease time.Duration
	// WorkerWait is how long a Work waits for workers before it goes back
	// to the queue for a while. If 0, 5 s.
	WorkerWait time.Duration
	// Logger receives the contractor's logs. If nil, nothing is logged.
	Logger *zap.Logger
}

// Contractor runs the Works of one type with a Foreman: it takes waiting
// Works from the park's queue, claims workers, runs the job and records
// the result. Contractors of a type share its Works.
type Contractor struct {
	def    Definition
	cfg    ContractorConfig
	f      *foreman.Foreman
	client *Client
	s      *store
	log    *zap.Logger
	self   registry.Member

	mu       sync.Mutex      // guards handling
	handling map[string]bool // Works whose queue message this contractor handles now
}

// NewContractor registers a Contractor of def that runs jobs on f and talks
// to the park over nc (the same park as f's); it serves with Serve.
func NewContractor(ctx context.Context, nc *nats.Conn, f *foreman.Foreman, def Definition, cfg ContractorConfig) (*Contractor, error) {
	if !validType.MatchString(def.Type) || def.Job == nil {
		return nil, fmt.Errorf("jobcenter: contractor: want a valid Type and a Job (type %q)", def.Type)
	}
	if cfg.ID != "" && !names.ValidID(cfg.ID) {
		return nil, fmt.Errorf("jobcenter: contractor: %w", names.ID("id", cfg.ID))
	}
	if def.WorkerType == "" {
		def.WorkerType = def.Type
	}
	def.Workers = max(def.Workers, 1)
	if cfg.ID == "" {
		cfg.ID = uuid.NewString()
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.WorkerWait <= 0 {
		cfg.WorkerWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	client, err := New(ctx, nc)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	c := &Contractor{def: def, cfg: cfg, f: f, client: client, s: client.s,
		log: cfg.Logger.With(zap.String("contractor", cfg.ID), zap.String("work_type", def.Type)),
		self: registry.Member{ID: cfg.ID, Role: registry.RoleContractor, Type: def.Type, Host: host,
			PID: os.Getpid(), State: registry.StateWaiting, Started: time.Now().UTC()}}
	// Registered from now (DoWork finds it), heartbeating once it serves.
	if err := client.reg.Register(ctx, &c.self, cfg.Logger); err != nil {
		return nil, fmt.Errorf("jobcenter: contractor: register: %w", err)
	}
	return c, nil
}

// ID returns the contractor's id.
func (c *Contractor) ID() string { return c.cfg.ID }

// Serve runs Works until ctx ends, keeping the contractor's registration
// alive; then it puts the Works it was running back in the queue, leaves
// the registry, releases its subscriptions and returns ctx's error.
func (c *Contractor) Serve(ctx context.Context) error {
	var q queues
	for _, level := range []struct {
		cons     *jetstream.Consumer
		name     string
		priority int
	}{{&q.high, "type-" + c.def.Type + "-high", 1}, {&q.normal, "type-" + c.def.Type, 0}} {
		cons, err := c.s.js.CreateOrUpdateConsumer(ctx, QueueStream, jetstream.ConsumerConfig{
			Durable: level.name, FilterSubject: queueSubject(c.def.Type, level.priority),
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.cfg.Lease, MaxDeliver: -1, MaxAckPending: -1,
		})
		if err != nil {
			return fmt.Errorf("jobcenter: contractor: queue consumer: %w", err)
		}
		*level.cons = cons
	}
	self := c.self
	hbCtx, stopHB := context.WithCancel(context.Background())
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		c.client.reg.Heartbeat(hbCtx, func() registry.Member { return self }, c.log, nil)
	}()
	defer func() {
		stopHB()
		<-hbDone
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.client.reg.Delete(dctx, &self)
		_ = c.client.Close()
	}()
	c.log.Info("contractor serving")

	var wg sync.WaitGroup
	p := &pool{c: c}
	ready := make(chan struct{}, c.cfg.Concurrency)
	msgs := make(chan jetstream.Msg)
	wg.Add(1)
	go func() { defer wg.Done(); c.feed(ctx, &q, ready, msgs) }()
	for range c.cfg.Concurrency {
		wg.Add(1)
		go func() { defer wg.Done(); c.slot(ctx, p, ready, msgs) }()
	}
	wg.Wait()
	return ctx.Err()
}

// queues are a Work type's consumers: Works with a priority, the others.
type queues struct {
	high, normal jetstream.Consumer
	highEmpty    time.Time // not to look at high before then: it was empty
}

// highLook is how long a contractor takes the high queue for empty after
// finding it so: a Work with a priority waits that long at most for it
// while Works without keep coming (up to a second when none come).
const highLook = 100 * time.Millisecond

// feed hands queue messages to the slots that are ready for a Work, as
// many at once as there are: one fetch for all of them. When the queue
// stayed empty for a second, the waiting slots get nil.
func (c *Contractor) feed(ctx context.Context, q *queues, ready <-chan struct{}, out chan<- jetstream.Msg) {
	owed := 0 // slots ready and not fed yet
	give := func(msg jetstream.Msg) bool {
		select {
		case out <- msg:
			owed--
			return true
		case <-ctx.Done():
			if msg != nil {
				_ = msg.Nak()
			}
			return false
		}
	}
	for {
		if owed == 0 {
			select {
			case <-ready:
				owed++
			case <-ctx.Done():
				return
			}
		}
		for more := true; more; {
			select {
			case <-ready:
				owed++
			default:
				more = false
			}
		}
		got, err := q.fetch(owed, give)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			c.log.Warn("fetch from the queue", zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		case got == 0:
			for owed > 0 && give(nil) {
			}
		}
	}
}

// fetch takes up to n messages, prioritized ones first, and gives each to
// give as it comes (until give returns false); it waits up to a second
// when none are waiting. It returns how many it gave.
func (q *queues) fetch(n int, give func(jetstream.Msg) bool) (int, error) {
	got := 0
	take := func(batch jetstream.MessageBatch, err error) error {
		if err != nil {
			return err
		}
		for msg := range batch.Messages() {
			if got == n || !give(msg) {
				_ = msg.Nak()
				continue
			}
			got++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		return nil
	}
	if time.Now().After(q.highEmpty) {
		if err := take(q.high.FetchNoWait(n)); err != nil {
			return got, err
		}
		if got == 0 {
			q.highEmpty = time.Now().Add(highLook)
		}
	}
	if got < n {
		if err := take(q.normal.FetchNoWait(n - got)); err != nil {
			return got, err
		}
	}
	if got == 0 {
		return got, take(q.normal.Fetch(n, jetstream.FetchMaxWait(time.Second)))
	}
	return got, nil
}

// workerHold is how long a contractor keeps the workers it claimed while
// Works keep coming; then it gives them back (and waits a quarter of it
// before it claims again), so other contractors get a share.
const workerHold = time.Second

// pool is the workers a contractor's slots share: claimed when a slot
// needs them, given back once no slot uses them and the queue was idle or
// they were held for workerHold.
type pool struct {
	c *Contractor

	mu    sync.Mutex // guards the fields below; held while claiming
	ws    []*foreman.Workman
	since time.Time // when ws were claimed
	users int       // slots running Works on ws
	drop  bool      // give ws back when the last user is done
	calm  time.Time // no claim before then (after a hold ran out)
}

// get returns the workers, claiming them if there are none (waiting up to
// WorkerWait), or nil if it got none.
func (p *pool) get(ctx context.Context) []*foreman.Workman {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ws == nil {
		if d := time.Until(p.calm); d > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d):
			}
		}
		wctx, cancel := context.WithTimeout(ctx, p.c.cfg.WorkerWait)
		got, _ := p.c.f.WaitWorkers(wctx, p.c.def.WorkerType, p.c.def.Workers)
		cancel()
		if len(got) == 0 {
			return nil
		}
		p.ws, p.since, p.drop = got, time.Now(), false
	}
	p.users++
	return p.ws
}

// put ends a slot's use of the workers: busy says it ran a Work (rather
// than finding the queue empty), ok that the workers are still good.
func (p *pool) put(busy, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users--
	held := time.Since(p.since) > workerHold
	if !busy || !ok || held {
		p.drop = true
	}
	if p.drop && p.users == 0 && p.ws != nil {
		p.c.f.Release(context.Background(), p.ws...)
		p.ws = nil
		if held && busy {
			p.calm = time.Now().Add(workerHold / 4)
		}
	}
}

// slot runs Works one at a time, on the pool's workers: it is ready for a
// Work only when there are workers to run it on.
func (c *Contractor) slot(ctx context.Context, p *pool, ready chan<- struct{}, msgs <-chan jetstream.Msg) {
	for ctx.Err() == nil {
		ws := p.get(ctx)
		if ws == nil {
			continue // it waited WorkerWait
		}
		ready <- struct{}{} // room for every slot: never blocks
		select {
		case <-ctx.Done():
			p.put(false, true)
		case msg := <-msgs:
			if msg == nil {
				p.put(false, true) // the queue is empty
				continue
			}
			p.put(true, c.handle(ctx, msg, ws))
		}
	}
}

// handle decides what a queue message calls for: the record is the truth,
// and the message is acknowledged only once its Work is final (or gone).
// It runs the Work on ws and reports whether ws are still good.
func (c *Contractor) handle(ctx context.Context, msg jetstream.Msg, ws []*foreman.Workman) bool {
	id := string(msg.Data())
	if !validID.MatchString(id) {
		c.log.Warn("a queue message names no work: dropped", zap.Int("bytes", len(id)), zap.String("start", id[:min(len(id), 64)]))
		_ = msg.Ack()
		return true
	}
	if !c.begin(id) {
		// Running here from another queue message (a Work submitted again
		// while it waited is queued again): look again once it may be done.
		_ = msg.NakWithDelay(time.Second)
		return true
	}
	defer c.end(id)
	info, rev, kv, err := c.s.get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		if md, err := msg.Metadata(); err == nil && time.Since(md.Timestamp) < notFoundGrace {
			// Queued with its record, which the park has not stored yet.
			_ = msg.NakWithDelay(notFoundGrace / 50)
			return true
		}
		_ = msg.Ack() // never created, not durable and lost with a park restart, or past its retention
		return true
	case err != nil:
		c.log.Warn("read a work", zap.String("work", id), zap.Error(err))
		_ = msg.NakWithDelay(time.Second)
		return true
	}
	now := time.Now()
	switch info.Status {
	case Done:
		if err := c.ensureNext(ctx, info); err != nil {
			c.log.Warn("submit the next work of a chain", zap.String("work", id), zap.Error(err))
			_ = msg.NakWithDelay(time.Second)
			return true
		}
		_ = msg.Ack()
		return true
	case Failed, Cancelled:
		_ = msg.Ack()
		return true
	case Running:
		if now.Before(info.LeaseUntil) {
			// Another contractor runs it: look again once its lease would
			// have run out.
			_ = msg.NakWithDelay(info.LeaseUntil.Sub(now) + 100*time.Millisecond)
			return true
		}
		// Its contractor stopped renewing: take it over.
		info.Errors = append(info.Errors, fmt.Sprintf("attempt %d: contractor %s lost (its lease ran out)", info.Attempts, info.Contractor))
	case Waiting:
		if now.Before(info.NotBefore) {
			_ = msg.NakWithDelay(info.NotBefore.Sub(now))
			return true
		}
	}
	if waiting, failed, err := c.deps(ctx, info); err != nil || waiting {
		_ = msg.NakWithDelay(time.Second) // look again in a while
		return true
	} else if failed != "" {
		info.Errors = append(info.Errors, failed)
		info.Attempts = info.MaxAttempts // nothing to retry
	}
	if info.Attempts >= info.MaxAttempts {
		info.Status, info.Finished, info.LeaseUntil = Failed, now.UTC(), time.Time{}
		if _, err := c.s.update(ctx, kv, info, rev); err != nil {
			_ = msg.NakWithDelay(100 * time.Millisecond) // changed meanwhile: decide again
			return true
		}
		_ = msg.Ack()
		return true
	}
	info.Status, info.Attempts, info.Contractor = Running, info.Attempts+1, c.cfg.ID
	info.Started, info.LeaseUntil, info.Progress = now.UTC(), now.Add(c.cfg.Lease).UTC(), Progress{}
	// Not written yet: most Works are done before the record would say
	// they run (see markAfter).
	start := *info
	r := &run{c: c, msg: msg, kv: kv, start: &start, info: info, rev: rev}
	// The Work's span: under its submitter's, if it traced it; its job's
	// spans under it.
	ctx, span := tracing.Tracer().Start(tracing.Extract(ctx, msg.Headers()), "work "+info.Type, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("fourinone.work.id", id), attribute.Int("fourinone.work.attempt", info.Attempts),
			attribute.String("fourinone.contractor", c.cfg.ID)))
	defer span.End()
	return r.do(ctx, ws)
}

// begin marks Work id as handled here, unless it is already: then it
// returns false.
func (c *Contractor) begin(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handling[id] {
		return false
	}
	if c.handling == nil {
		c.handling = map[string]bool{}
	}
	c.handling[id] = true
	return true
}

// end is the end of what begin began.
func (c *Contractor) end(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.handling, id)
}

// notFoundGrace is how long after its queue message a Work's record may
// be missing because the park has not stored it yet: a client sends both at
// once.
const notFoundGrace = 5 * time.Second

// depGrace is how long after its submission a fan-in Work waits for a
// Work it names to be submitted too.
const depGrace = time.Minute

// deps checks the Works a fan-in Work waits for: whether some are not
// final yet (or not submitted yet, for a while), or the reason it cannot
// run if one failed, was cancelled or never came.
func (c *Contractor) deps(ctx context.Context, w *Info) (waiting bool, failed string, err error) {
	if loop := c.afterLoop(ctx, w); loop != "" {
		return false, "it waits for itself: " + loop, nil
	}
	for _, id := range w.After {
		info, _, _, err := c.s.get(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound) && time.Since(w.Created) < depGrace:
			waiting = true
		case errors.Is(err, ErrNotFound):
			return false, fmt.Sprintf("the work it waits for, %s, does not exist", id), nil
		case err != nil:
			return false, "", err
		case info.Status == Failed || info.Status == Cancelled:
			return false, fmt.Sprintf("the work it waits for, %s, is %s", id, info.Status), nil
		case info.Status != Done:
			waiting = true
		}
	}
	return waiting, "", nil
}

// maxAfterWalk bounds the records afterLoop reads.
const maxAfterWalk = 256

// afterLoop looks for w among the Works it waits for, and those they wait
// for, reading at most maxAfterWalk records: Works that wait for each
// other (a after b, b after a) would wait for ever. It returns the loop
// ("a -> b -> a"), or "" if it found none.
func (c *Contractor) afterLoop(ctx context.Context, w *Info) string {
	type step struct {
		id   string
		path string
	}
	todo := make([]step, 0, len(w.After))
	for _, id := range w.After {
		todo = append(todo, step{id, w.ID + " -> " + id})
	}
	seen := map[string]bool{w.ID: true}
	for reads := 0; len(todo) > 0 && reads < maxAfterWalk; reads++ {
		s := todo[0]
		todo = todo[1:]
		if seen[s.id] {
			continue
		}
		seen[s.id] = true
		info, _, _, err := c.s.get(ctx, s.id)
		if err != nil || info.Status != Waiting {
			continue // gone, or past waiting: it waits for nobody now
		}
		for _, next := range info.After {
			if next == w.ID {
				return s.path + " -> " + w.ID
			}
			todo = append(todo, step{next, s.path + " -> " + next})
		}
	}
	return ""
}

// run is one attempt of a Work on this contractor.
type run struct {
	c    *Contractor
	msg  jetstream.Msg
	kv   jetstream.KeyValue
	done atomic.Int64 // tasks combined
	tot  atomic.Int64 // tasks split

	start *Info // the record as this attempt started; never changed

	mu     sync.Mutex // guards info, rev, marked
	info   *Info      // the record as this attempt has it: running here
	rev    uint64     // the record's revision (as it started, until marked)
	marked bool       // the record says running (it was written since the start)
}

// markAfter is how long a Work runs before its contractor records it as
// running (with its attempt and lease) and watches its record for a
// cancel: most Works are done before, and their record is written once,
// done, by compare-and-set on the record they started from. A contractor
// lost before then leaves the Work waiting, for another one to take once
// the queue message's lease runs out.
const markAfter = 50 * time.Millisecond

var (
	errTakenOver = errors.New("jobcenter: the work was taken over or changed")
	errShutdown  = errors.New("jobcenter: the contractor is shutting down")
)

func (r *run) do(ctx context.Context, ws []*foreman.Workman) (workersOK bool) {
	id := r.start.ID
	span := trace.SpanFromContext(ctx)
	runCtx, cancel := context.WithCancelCause(trace.ContextWithSpan(context.Background(), span))
	defer cancel(nil)
	// Record the Work as running and watch the record (for a cancel, or a
	// takeover) once it has run a moment.
	var wmu sync.Mutex
	var stopWatch func()
	over, renewing := false, false // the job returned; the lease is renewed
	renewDone := make(chan struct{})
	stopRenew := make(chan struct{})
	watchSoon := time.AfterFunc(markAfter, func() {
		// Renewing the lease starts here too: most Works are done before.
		wmu.Lock()
		if over {
			wmu.Unlock()
			return
		}
		renewing = true
		wmu.Unlock()
		go func() { defer close(renewDone); r.renew(runCtx, cancel, stopRenew) }()
		if err := r.save(runCtx, func(*Info) {}); err != nil {
			if errors.Is(err, errTakenOver) {
				r.check(runCtx, cancel)
			}
			return
		}
		stop, err := r.c.s.watch(id, func(info *Info) { r.checkInfo(runCtx, cancel, info) })
		if err != nil {
			return
		}
		wmu.Lock()
		if over {
			wmu.Unlock()
			stop()
			return
		}
		stopWatch = stop
		wmu.Unlock()
		r.check(runCtx, cancel) // a change before the watch began
	})
	defer func() {
		wmu.Lock()
		defer wmu.Unlock()
		if stopWatch != nil {
			stopWatch()
		}
	}()
	defer context.AfterFunc(ctx, func() { cancel(errShutdown) })()
	out, err := r.job(runCtx, ws)
	watchSoon.Stop()
	close(stopRenew)
	wmu.Lock()
	over = true
	wasRenewing := renewing
	wmu.Unlock()
	if wasRenewing {
		<-renewDone
	}
	cause := context.Cause(runCtx)
	switch {
	case err == nil:
		r.succeed(out)
	case errors.Is(cause, ErrCancelled):
		_ = r.msg.Ack()
	case errors.Is(cause, errTakenOver):
		r.c.log.Warn("work taken over by another contractor; its attempt here is dropped", zap.String("work", id))
	case errors.Is(cause, errShutdown):
		r.giveBack()
	default:
		span.SetStatus(codes.Error, err.Error())
		r.fail(err)
		return false
	}
	return true
}

// job builds and runs the Work's job, turning a panic in user code into
// an error.
func (r *run) job(ctx context.Context, ws []*foreman.Workman) (out *warehouse.Warehouse, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.c.log.Error("job panicked", zap.String("work", r.start.ID), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("job panicked: %v", p)
		}
	}()
	data, err := r.c.s.getBlob(ctx, r.start.Input, r.start.InputData)
	if err != nil {
		return nil, err
	}
	in, err := warehouse.Decode(data)
	if err != nil {
		return nil, permanentError{fmt.Errorf("input: %w", err)}
	}
	for _, id := range r.start.After {
		dep, _, _, err := r.c.s.get(ctx, id)
		if err != nil {
			return nil, err
		}
		b, err := r.c.s.getBlob(ctx, dep.Result, dep.ResultData)
		if err != nil {
			return nil, err
		}
		in.SetBytes(afterKey(id), b)
	}
	split, comb, err := r.c.def.Job(ctx, in)
	if err != nil {
		return nil, err
	}
	counted := splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		return split.Split(ctx, func(t *warehouse.Warehouse) error { r.tot.Add(1); return emit(t) })
	})
	counting := combiner.Func(func(acc, res *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		r.done.Add(1)
		return comb.Combine(acc, res)
	})
	// The job is named after the Work (the Definition's options may name
	// it otherwise), and shown once it runs a second (the Work's record
	// shows it before).
	opts := append([]foreman.RunOption{foreman.JobName("work " + r.start.Type + " " + r.start.ID), foreman.ShowAfter(time.Second)},
		r.c.def.RunOptions...)
	acc, err := r.c.f.Run(ctx, ws, counted, counting, opts...)
	if t, ok := comb.(typedResult); ok && err == nil {
		return t.result()
	}
	return acc, err
}

// permanentError fails a Work at once, without further attempts.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// check looks at the record after a change: a cancelled Work, or one that
// another contractor has taken, stops here.
func (r *run) check(ctx context.Context, cancel context.CancelCauseFunc) {
	r.checkInfo(ctx, cancel, nil)
}

// checkInfo is check with the record as notified (read if nil).
func (r *run) checkInfo(ctx context.Context, cancel context.CancelCauseFunc, info *Info) {
	if info == nil {
		var err error
		if info, _, _, err = r.c.s.get(ctx, r.start.ID); err != nil {
			return
		}
	}
	r.mu.Lock()
	mine := r.mine(info)
	r.mu.Unlock()
	switch {
	case info.Status == Cancelled:
		cancel(ErrCancelled)
	case !mine:
		cancel(errTakenOver)
	}
}

// mine reports whether a record still shows this attempt running here.
func (r *run) mine(info *Info) bool {
	return info.Status == Running && info.Contractor == r.c.cfg.ID && info.Attempts == r.start.Attempts
}

// renew keeps the Work's lease alive (its queue message's and its record's)
// every Lease/3 with the progress, until stop.
func (r *run) renew(ctx context.Context, cancel context.CancelCauseFunc, stop chan struct{}) {
	t := time.NewTicker(r.c.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		_ = r.msg.InProgress()
		err := r.save(ctx, func(info *Info) {
			info.LeaseUntil = time.Now().Add(r.c.cfg.Lease).UTC()
			info.Progress = Progress{Done: r.done.Load(), Total: r.tot.Load()}
		})
		if errors.Is(err, errTakenOver) {
			r.check(ctx, cancel)
		}
	}
}

// save applies change to the record by compare-and-set, as long as it
// shows this attempt; errTakenOver if it does not.
func (r *run) save(ctx context.Context, change func(*Info)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		next := *r.info
		next.Errors = slices.Clone(r.info.Errors)
		change(&next)
		rev, err := r.c.s.update(ctx, r.kv, &next, r.rev)
		if err == nil {
			r.info, r.rev, r.marked = &next, rev, true
			return nil
		}
		if !streams.IsConflict(err) {
			return err
		}
		info, rev, _, err := r.c.s.get(ctx, r.start.ID)
		if err != nil {
			return err
		}
		if !r.marked || !r.mine(info) {
			return errTakenOver
		}
		r.info, r.rev = info, rev
	}
}

// succeed records the result and the Work as done (once: by compare-and-set
// on this attempt), submits its next Work, and acknowledges the message.
func (r *run) succeed(out *warehouse.Warehouse) {
	// Within a lease: later, the Work is another contractor's anyway (and a
	// write sent while the park was down would wait for its answer for
	// ever, holding up a shutdown).
	ctx, cancel := context.WithTimeout(context.Background(), r.c.cfg.Lease)
	defer cancel()
	data, err := out.MarshalBinary()
	if err != nil {
		r.fail(permanentError{fmt.Errorf("result: %w", err)})
		return
	}
	ref, inline, err := r.c.s.putBlob(ctx, r.kv, fmt.Sprintf("r.%s.%d", r.start.ID, r.start.Attempts), data)
	if err != nil {
		r.fail(err)
		return
	}
	err = r.save(ctx, func(info *Info) {
		info.Status, info.Result, info.ResultData = Done, ref, inline
		info.Finished, info.LeaseUntil = time.Now().UTC(), time.Time{}
		info.Progress = Progress{Done: r.done.Load(), Total: r.tot.Load()}
	})
	if err != nil {
		r.c.log.Warn("result dropped: the work changed meanwhile", zap.String("work", r.start.ID), zap.Error(err))
		_ = r.msg.Nak() // decided again from the record
		return
	}
	if err := r.c.ensureNext(ctx, r.info); err != nil {
		r.c.log.Warn("submit the next work of a chain (the queue will retry)", zap.String("work", r.start.ID), zap.Error(err))
		_ = r.msg.NakWithDelay(time.Second)
		return
	}
	_ = r.msg.Ack()
}

// fail records a failed attempt: the Work waits for its next attempt after
// a backoff, or fails if it has had them all or cannot succeed.
func (r *run) fail(runErr error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.c.cfg.Lease)
	defer cancel()
	var again time.Duration
	err := r.save(ctx, func(info *Info) {
		info.Errors = append(info.Errors, fmt.Sprintf("attempt %d: %v", info.Attempts, runErr))
		info.LeaseUntil = time.Time{}
		if info.Attempts < info.MaxAttempts && !errors.As(runErr, new(permanentError)) {
			again = backoff(info.Attempts)
			info.Status, info.NotBefore = Waiting, time.Now().Add(again).UTC()
		} else {
			info.Status, info.Finished = Failed, time.Now().UTC()
		}
	})
	if err != nil {
		r.c.log.Warn("record a failed attempt", zap.String("work", r.start.ID), zap.Error(err))
		return
	}
	r.c.log.Info("work attempt failed", zap.String("work", r.start.ID), zap.Int("attempt", r.start.Attempts),
		zap.Bool("again", again > 0), zap.Error(runErr))
	if again > 0 {
		_ = r.msg.NakWithDelay(again)
		return
	}
	_ = r.msg.Ack()
}

// giveBack puts a Work this contractor stops running (it shuts down) back
// to waiting, the attempt not counted, for another contractor.
func (r *run) giveBack() {
	r.mu.Lock()
	marked := r.marked
	r.mu.Unlock()
	if !marked {
		_ = r.msg.Nak() // the record still says waiting
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := r.save(ctx, func(info *Info) {
		info.Status, info.Attempts, info.LeaseUntil = Waiting, info.Attempts-1, time.Time{}
	})
	if err == nil {
		_ = r.msg.Nak()
	}
}

// backoff is the wait before attempt n+1: 1 s, 2 s, 4 s, ... up to a minute.
func backoff(n int) time.Duration {
	return min(time.Second<<min(n-1, 6), time.Minute)
}

// ensureNext submits the next Work of a done Work's chain (idempotently,
// under a deterministic ID) and records its ID.
func (c *Contractor) ensureNext(ctx context.Context, info *Info) error {
	if info.Next == nil || info.NextID != "" {
		return nil
	}
	data, err := c.s.getBlob(ctx, info.Result, info.ResultData)
	if err != nil {
		return err
	}
	in, err := warehouse.Decode(data)
	if err != nil {
		return err
	}
	next := info.Next.work(in)
	if next.ID == "" {
		next.ID = info.ID + "-next"
	}
	if _, err := c.client.submit(ctx, next, info.Notify); err != nil {
		return err
	}
	_, err = c.s.modify(ctx, info.ID, func(i *Info) (bool, error) {
		if i.NextID != "" {
			return false, nil
		}
		i.NextID = next.ID
		return true, nil
	})
	return err
}
