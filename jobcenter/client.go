package jobcenter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/streams"
	"github.com/fourinone-go/fourinone/internal/tracing"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// DefaultMaxAttempts is how often a Work runs before it is failed, if its
// MaxAttempts is zero.
const DefaultMaxAttempts = 3

// Work is a unit of work for the job center: a contractor of its Type runs
// it as one job (split, run on workers, combined) on its Input.
type Work struct {
	// Type names the contractors that run it: letters, digits, _ and -.
	Type string
	// ID identifies the Work (letters, digits, _, = and -); if blank,
	// Submit makes a UUID. Submitting an ID again does nothing while the
	// Work is kept: one Work, one result.
	ID string
	// Input is what the contractor builds the job from; nil is empty.
	Input *warehouse.Warehouse
	// Durable Works are kept in the park's store and survive its restarts;
	// the others are kept in its memory and lost when it restarts.
	Durable bool
	// MaxAttempts bounds how often the Work runs (a failed run is retried
	// with exponential backoff); if zero, DefaultMaxAttempts.
	MaxAttempts int
	// NotBefore delays the Work's first run until then.
	NotBefore time.Time
	// Next is run with this Work's result as its input once this one is
	// done (its Input is ignored): a chain.
	Next *Work
	// After names Works this one waits for (fan-in): it runs once they are
	// all done, with each one's result added to its input (see
	// AfterResult), and fails if one of them fails or is cancelled, or was
	// not submitted within a minute of this one.
	After []string
	// Priority: Works of a type with a priority above 0 run before the
	// others that wait.
	Priority int
}

// Bounds on how Works name each other.
const (
	// MaxChain is the most Works a Work's chain (Next, Next.Next, ...)
	// may hold.
	MaxChain = 64
	// MaxAfter is the most Works a fan-in Work may wait for.
	MaxAfter = 256
)

// afterKey is where a fan-in Work's input holds a dependency's result.
func afterKey(id string) string { return "after:" + id }

// AfterResult returns the result of Work id that a fan-in Work (one with
// After) got in its input.
func AfterResult(in *warehouse.Warehouse, id string) (*warehouse.Warehouse, error) {
	b, ok := in.Bytes(afterKey(id))
	if !ok {
		return nil, fmt.Errorf("jobcenter: the input holds no result of work %s", id)
	}
	return warehouse.Decode(b)
}

// spec returns w without its input, as a chain's next step.
func (w *Work) spec() *Spec {
	if w == nil {
		return nil
	}
	return &Spec{Type: w.Type, ID: w.ID, Durable: w.Durable, MaxAttempts: w.MaxAttempts, Next: w.Next.spec()}
}

// work returns the Work a Spec describes, with input in.
func (s *Spec) work(in *warehouse.Warehouse) Work {
	w := Work{Type: s.Type, ID: s.ID, Durable: s.Durable, MaxAttempts: s.MaxAttempts, Input: in}
	if s.Next != nil {
		next := s.Next.work(nil)
		w.Next = &next
	}
	return w
}

// Client submits Works and reads their status, through a connection to the
// park server. It is safe for concurrent use.
type Client struct {
	s   *store
	reg *registry.Registry
	log *zap.Logger

	// The final records of the Works it submitted come to notify + "." +
	// ID, for the Waits that listen.
	notify    string
	sub       *nats.Subscription
	mu        sync.Mutex
	listeners map[string][]chan *Info
	// early holds, for a Work submitted here and not waited for yet, the
	// channel listening for its final record since before its creation:
	// a Wait that takes it up need not read the record first.
	early map[string]chan *Info
}

// New returns a Client on nc, a connection to the park server (which it
// does not close). It waits until ctx ends for the park's job center.
// Close (or closing nc) releases it.
func New(ctx context.Context, nc *nats.Conn) (*Client, error) {
	s, err := openStore(ctx, nc)
	if err != nil {
		return nil, err
	}
	reg, err := registry.Open(ctx, nc)
	if err != nil {
		return nil, fmt.Errorf("jobcenter: %w", err)
	}
	c := &Client{s: s, reg: reg, log: zap.NewNop(), notify: nc.NewInbox(), listeners: map[string][]chan *Info{},
		early: map[string]chan *Info{}}
	if c.sub, err = nc.Subscribe(c.notify+".*", c.notified); err != nil {
		return nil, fmt.Errorf("jobcenter: %w", err)
	}
	return c, nil
}

// SetLogger makes the client log to log: that it waits for a park that
// does not answer (once, at WARN, per call), and that it answers again.
func (c *Client) SetLogger(log *zap.Logger) {
	if log != nil {
		c.log = log
	}
}

// transient reports whether err is a failure that trying again may cure:
// a timeout, nobody answering (a park server restarting, a cluster
// electing a leader), a connection being made again (it buffers nothing
// meanwhile), or a cluster without a quorum.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrDisconnected) ||
		errors.As(err, &apiErr) && apiErr.Code == 503
}

// retry calls f until it succeeds, fails for good, or ctx ends, backing
// off up to 2 s between tries. The first transient failure is logged at
// WARN, saying what waits; the success after it at INFO.
func retry[T any](ctx context.Context, log *zap.Logger, what string, f func() (T, error)) (T, error) {
	t0, said := time.Now(), false
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		v, err := f()
		if err == nil && said {
			log.Info("the park answers again", zap.String("waiting", what), zap.Duration("after", time.Since(t0)))
		}
		if err == nil || !transient(err) || ctx.Err() != nil {
			return v, err
		}
		if !said {
			said = true
			log.Warn("the park does not answer; trying again", zap.String("waiting", what), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(wait):
		}
	}
}

// Close releases the client's subscriptions; its Waits go on reading the
// records (about once a second).
func (c *Client) Close() error {
	c.s.close()
	return c.sub.Unsubscribe()
}

// maxEarly bounds the Works a client holds a channel for between their
// Submit and a Wait (see Client.early).
const maxEarly = 1 << 16

// notified hands a final record sent to the client to its listeners.
func (c *Client) notified(m *nats.Msg) {
	id := m.Subject[len(c.notify)+1:]
	c.mu.Lock()
	ls := c.listeners[id]
	if l, ok := c.early[id]; ok {
		// No Wait took it up: one that comes later reads the record.
		delete(c.early, id)
		c.unlistenLocked(id, l)
		ls = c.listeners[id]
	}
	c.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	var info Info
	if json.Unmarshal(m.Data, &info) != nil || info.ID != id {
		return
	}
	for _, l := range ls {
		select {
		case <-l: // only the latest matters
		default:
		}
		l <- &info
	}
}

// listen hands Work id's final records sent to the client to l until the
// returned function is called.
func (c *Client) listen(id string, l chan *Info) (stop func()) {
	c.mu.Lock()
	c.listeners[id] = append(c.listeners[id], l)
	c.mu.Unlock()
	return func() { c.unlisten(id, l) }
}

func (c *Client) unlisten(id string, l chan *Info) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unlistenLocked(id, l)
}

func (c *Client) unlistenLocked(id string, l chan *Info) {
	ls := slices.DeleteFunc(c.listeners[id], func(x chan *Info) bool { return x == l })
	if len(ls) == 0 {
		delete(c.listeners, id)
	} else {
		c.listeners[id] = ls
	}
}

// expect listens for a Work about to be submitted here, for its Wait to
// take up (see early); the returned function drops it if the Work was
// not created.
func (c *Client) expect(id string) (drop func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.early) >= maxEarly || c.early[id] != nil {
		return func() {}
	}
	l := make(chan *Info, 1)
	c.early[id] = l
	c.listeners[id] = append(c.listeners[id], l)
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.early[id] == l {
			delete(c.early, id)
			c.unlistenLocked(id, l)
		}
	}
}

// takeEarly returns the channel a Work submitted here listens on, if no
// Wait took it up and its final record has not come yet.
func (c *Client) takeEarly(id string) (chan *Info, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.early[id]
	delete(c.early, id)
	return l, ok
}

// Submit queues w and returns its ID. A Work with that ID already kept is
// left as it is (and its ID returned): submitting is idempotent, so a
// park that does not answer (restarting, or its cluster electing a
// leader) is tried again, under one ID, until ctx ends (see SetLogger).
func (c *Client) Submit(ctx context.Context, w Work) (_ string, err error) {
	if w.ID == "" {
		w.ID = uuid.NewString() // one ID for every try: a try finds an earlier one's record
	}
	ctx, span := tracing.Tracer().Start(ctx, "submit work", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("fourinone.work.id", w.ID), attribute.String("fourinone.work.type", w.Type)))
	defer func() { endSpan(span, err) }()
	return retry(ctx, c.log, "submit work "+w.ID, func() (string, error) { return c.submit(ctx, w, c.notify) })
}

// endSpan ends span, with err as its status if not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// submit is Submit with the Work's final records sent to notify.
func (c *Client) submit(ctx context.Context, w Work, notify string) (string, error) {
	p, id, err := c.prepare(ctx, w, notify)
	if p == nil {
		return id, err
	}
	errs := c.s.pubs.doAll(ctx, p.put, p.queue)
	return c.finish(ctx, p, errs[0], errs[1])
}

// SubmitMany submits works as Submit submits each, and returns their IDs
// and errors in their order (errs[i] is works[i]'s, nil if it was
// queued). The records and queue messages of up to 128 Works go to the
// park in one batch, so that n Works cost about n/128 round trips, not n.
// Each Work is on its own: idempotent by its ID, and tried again, while
// ctx lasts, if the park does not answer.
func (c *Client) SubmitMany(ctx context.Context, works []Work) (ids []string, errs []error) {
	works = slices.Clone(works) // their IDs are set here
	ctx, span := tracing.Tracer().Start(ctx, "submit works", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.Int("fourinone.works", len(works))))
	defer func() { endSpan(span, errors.Join(errs...)) }()
	ids, errs = make([]string, len(works)), make([]error, len(works))
	left := make([]int, len(works)) // indexes to submit
	for i := range works {
		if works[i].ID == "" {
			works[i].ID = uuid.NewString() // one ID for every try
		}
		left[i] = i
	}
	t0, said := time.Now(), false
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		c.submitAll(ctx, works, left, ids, errs)
		again := left[:0]
		for _, i := range left {
			if errs[i] != nil && transient(errs[i]) {
				again = append(again, i)
			}
		}
		if left = again; len(left) == 0 || ctx.Err() != nil {
			if said && len(left) == 0 {
				c.log.Info("the park answers again", zap.String("waiting", "submit works"), zap.Duration("after", time.Since(t0)))
			}
			return ids, errs
		}
		if !said {
			said = true
			c.log.Warn("the park does not answer; trying again", zap.String("waiting", fmt.Sprintf("submit %d works", len(left))),
				zap.Error(errs[left[0]]))
		}
		select {
		case <-ctx.Done():
			return ids, errs
		case <-time.After(wait):
		}
	}
}

// submitAll submits works[i] for each i in which, once: each prepared on
// its own goroutine (their reads share batches), then all their messages
// in one batch.
func (c *Client) submitAll(ctx context.Context, works []Work, which []int, ids []string, errs []error) {
	ps := make([]*submission, len(which))
	var wg sync.WaitGroup
	for k, i := range which {
		wg.Go(func() { ps[k], ids[i], errs[i] = c.prepare(ctx, works[i], c.notify) })
	}
	wg.Wait()
	var msgs []*nats.Msg // each prepared Work's record and queue message
	for _, p := range ps {
		if p != nil {
			msgs = append(msgs, p.put, p.queue)
		}
	}
	if len(msgs) == 0 {
		return
	}
	perrs := c.s.pubs.doAll(ctx, msgs...)
	for k, i := range which {
		if p := ps[k]; p != nil {
			ids[i], errs[i] = c.finish(ctx, p, perrs[0], perrs[1])
			perrs = perrs[2:]
		}
	}
}

// submission is a Work made ready to submit: its record and queue
// message.
type submission struct {
	id         string
	typ        string
	kv         jetstream.KeyValue
	record     []byte
	put, queue *nats.Msg
	drop       func() // forgets the notification expected, unless created
}

// prepare checks w and makes its submission. A Work that needs none (it
// is kept already, or bad) comes back as its ID and error, with no
// submission.
func (c *Client) prepare(ctx context.Context, w Work, notify string) (*submission, string, error) {
	if !validType.MatchString(w.Type) {
		return nil, "", fmt.Errorf("jobcenter: work type %q: want 1 to 64 letters, digits, _ or -", w.Type)
	}
	// A chain is a list, not a loop: bounded, each Work once, each ID once.
	seen := map[*Work]bool{&w: true}
	ids := map[string]bool{w.ID: w.ID != ""}
	steps := 0
	for n := w.Next; n != nil; n = n.Next {
		if steps++; steps > MaxChain || seen[n] {
			return nil, "", fmt.Errorf("jobcenter: work %q: its chain (Next) is a loop or longer than %d", w.ID, MaxChain)
		}
		seen[n] = true
		if !validType.MatchString(n.Type) || n.ID != "" && !validID.MatchString(n.ID) {
			return nil, "", fmt.Errorf("jobcenter: chained work %q of type %q: bad type or id", n.ID, n.Type)
		}
		if ids[n.ID] {
			return nil, "", fmt.Errorf("jobcenter: work %q: its chain names %q twice", w.ID, n.ID)
		}
		ids[n.ID] = n.ID != ""
	}
	if len(w.After) > MaxAfter {
		return nil, "", fmt.Errorf("jobcenter: work %q waits for %d works (at most %d)", w.ID, len(w.After), MaxAfter)
	}
	if w.ID == "" {
		w.ID = uuid.NewString()
	}
	for _, a := range w.After {
		if !validID.MatchString(a) || a == w.ID {
			return nil, "", fmt.Errorf("jobcenter: work %s waits for %q: not a work id", w.ID, a)
		}
	}
	if !validID.MatchString(w.ID) {
		return nil, "", fmt.Errorf("jobcenter: work id %q: want 1 to 128 letters, digits, _, = or -", w.ID)
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = DefaultMaxAttempts
	}
	// Not durable: look for the ID among the durable Works first (the
	// create below decides among those of its own kind).
	if !w.Durable {
		if info, _, kv, err := c.s.get(ctx, w.ID); err == nil && kv == c.s.works {
			return nil, w.ID, c.resume(ctx, info, w.Type)
		}
	}
	in := w.Input
	if in == nil {
		in = warehouse.New()
	}
	data, err := in.MarshalBinary()
	if err != nil {
		return nil, "", fmt.Errorf("jobcenter: work %s input: %w", w.ID, err)
	}
	kv := c.s.bucket(w.Durable)
	var ref string
	if len(data) > inRecord {
		if existing, _, _, err := c.s.get(ctx, w.ID); err == nil {
			return nil, w.ID, c.resume(ctx, existing, w.Type) // do not overwrite its input
		}
		if ref, err = c.s.putBig(ctx, kv, "i."+w.ID, data); err != nil {
			return nil, "", err
		}
		data = nil
	}
	now := time.Now().UTC()
	info := Info{ID: w.ID, Type: w.Type, Durable: w.Durable, Status: Waiting, MaxAttempts: w.MaxAttempts,
		Created: now, Updated: now, NotBefore: w.NotBefore.UTC(), Next: w.Next.spec(), Input: ref, InputData: data,
		After: w.After, Priority: w.Priority, Notify: notify}
	b, err := json.Marshal(&info)
	if err != nil {
		return nil, "", err
	}
	p := &submission{id: w.ID, typ: w.Type, kv: kv, record: b, drop: func() {},
		put: putMsg(kv, "w."+w.ID, b, 0), queue: queueMsg(&info)}
	tracing.InjectInto(ctx, p.queue) // its contractor's span continues the trace
	if notify == c.notify {
		p.drop = c.expect(w.ID)
	}
	return p, "", nil
}

// finish takes the outcome of a submission's record and queue message
// (err and queued). The record and its queue message went together,
// in one batch: a contractor that gets the message before the park stored
// the record looks again a moment later (see notFoundGrace). A message
// queued for a Work that exists already is harmless (its record decides),
// and one whose record was never stored is dropped after the grace.
func (c *Client) finish(ctx context.Context, p *submission, err, queued error) (string, error) {
	if streams.IsConflict(err) {
		// Kept, or deleted (its retention ran out) and created again.
		_, err = p.kv.Create(ctx, "w."+p.id, p.record)
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Kept already: submitted before, or just now by someone else.
		p.drop()
		existing, _, _, err := c.s.get(ctx, p.id)
		if err != nil {
			return "", err
		}
		return p.id, c.resume(ctx, existing, p.typ)
	} else if err != nil {
		p.drop()
		return "", fmt.Errorf("jobcenter: create work %s: %w", p.id, err)
	}
	if queued != nil {
		return "", fmt.Errorf("jobcenter: queue work %s (it waits, unqueued, until submitted again): %w", p.id, queued)
	}
	return p.id, nil
}

// resume handles the submission of a kept Work again: a waiting one is
// queued again (deduplicated), in case its first submission stopped
// between its record and its queue message.
func (c *Client) resume(ctx context.Context, info *Info, typ string) error {
	if info.Type != typ {
		return fmt.Errorf("jobcenter: work %s exists with type %q, not %q", info.ID, info.Type, typ)
	}
	if info.Status == Waiting {
		return c.s.enqueue(ctx, info, info.ID)
	}
	return nil
}

// Status returns a Work's record, trying again until ctx ends while the
// park does not answer.
func (c *Client) Status(ctx context.Context, id string) (*Info, error) {
	return retry(ctx, c.log, "status of work "+id, func() (*Info, error) {
		info, _, _, err := c.s.get(ctx, id)
		return info, err
	})
}

// Chain returns the records of a chain from its first Work on, as far as
// its steps were submitted.
func (c *Client) Chain(ctx context.Context, id string) ([]*Info, error) {
	var out []*Info
	for id != "" {
		info, err := c.Status(ctx, id)
		if err != nil {
			return out, err
		}
		out = append(out, info)
		id = info.NextID
	}
	return out, nil
}

// Wait waits until a Work is final and returns its result; for a chain, it
// waits for the chain's last step. A failed Work (or step) gives a
// *WorkError naming it; a cancelled one ErrCancelled. A park that does
// not answer is tried again until ctx ends, as by Status.
func (c *Client) Wait(ctx context.Context, id string) (*warehouse.Warehouse, error) {
	return retry(ctx, c.log, "work "+id, func() (*warehouse.Warehouse, error) { return c.wait(ctx, id) })
}

func (c *Client) wait(ctx context.Context, id string) (*warehouse.Warehouse, error) {
	for {
		info, err := c.waitFinal(ctx, id)
		if err != nil {
			return nil, err
		}
		switch info.Status {
		case Failed:
			return nil, &WorkError{ID: info.ID, Type: info.Type, Errors: info.Errors}
		case Cancelled:
			return nil, fmt.Errorf("%w: %s", ErrCancelled, info.ID)
		}
		if info.Next != nil {
			id = info.NextID
			continue
		}
		data, err := c.s.getBlob(ctx, info.Result, info.ResultData)
		if err != nil {
			return nil, err
		}
		out, err := warehouse.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("jobcenter: work %s result: %w", info.ID, err)
		}
		return out, nil
	}
}

// waitFinal waits until Work id is final (and, if done with a next step,
// until that step is submitted).
func (c *Client) waitFinal(ctx context.Context, id string) (*Info, error) {
	kick, early := c.takeEarly(id)
	if early {
		// Submitted here, listened for since: its final record comes.
		defer c.unlisten(id, kick)
		return c.await(ctx, id, kick, &Info{Status: Waiting})
	}
	kick = make(chan *Info, 1)
	defer c.listen(id, kick)()
	info, err := c.Status(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, err
	case err == nil && final(info):
		return info, nil
	case err != nil || info.Notify != c.notify:
		// Submitted by another client: watch its record.
		stop, err := c.s.watch(id, func(info *Info) {
			select {
			case <-kick: // only the latest matters
			default:
			}
			kick <- info
		})
		if err != nil {
			return nil, err
		}
		defer stop()
		info = nil // read again: it may have changed before the watch
	}
	return c.await(ctx, id, kick, info)
}

// await waits for Work id's record to be final: it takes the records that
// come on kick, and reads the record now if info is nil, and about once a
// second (in case a change came while nobody listened).
func (c *Client) await(ctx context.Context, id string, kick chan *Info, info *Info) (*Info, error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastErr error
	for {
		var err error
		if info == nil {
			info, err = c.Status(ctx, id)
		}
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, err
		case err != nil:
			lastErr = err // the park is unreachable for now: try again
		case final(info):
			return info, nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("%w (the last read: %v)", ctx.Err(), lastErr)
			}
			return nil, ctx.Err()
		case info = <-kick:
		case <-tick.C:
			info = nil
		}
	}
}

// final reports whether Wait is over for a record: it is final and, if
// done with a next step, that step is submitted.
func final(info *Info) bool {
	return info.Status.Final() && (info.Status != Done || info.Next == nil || info.NextID != "")
}

// Cancel cancels a Work: a waiting one never starts, a running one is
// cancelled on its contractor (its job's tasks on their workers). It
// returns ErrFinal for a Work that is done or failed.
func (c *Client) Cancel(ctx context.Context, id string) error {
	_, err := c.s.modify(ctx, id, func(info *Info) (bool, error) {
		switch info.Status {
		case Cancelled:
			return false, nil
		case Done, Failed:
			return false, fmt.Errorf("%w: %s is %s", ErrFinal, id, info.Status)
		}
		info.Status, info.Finished = Cancelled, time.Now().UTC()
		return true, nil
	})
	return err
}

// Resubmit queues a failed or cancelled Work again, with its attempts
// counted from zero (its errors are kept).
func (c *Client) Resubmit(ctx context.Context, id string) error {
	info, err := c.s.modify(ctx, id, func(info *Info) (bool, error) {
		if info.Status != Failed && info.Status != Cancelled {
			return false, fmt.Errorf("jobcenter: work %s is %s: only failed or cancelled works are resubmitted", id, info.Status)
		}
		info.Status, info.Attempts, info.Finished, info.NotBefore = Waiting, 0, time.Time{}, time.Time{}
		return true, nil
	})
	if err != nil {
		return err
	}
	return c.s.enqueue(ctx, info, fmt.Sprintf("%s.r%d", id, time.Now().UnixNano()))
}

// Filter selects Works for List; blank fields select all.
type Filter struct {
	Type   string
	Status Status
}

// List returns the records of the kept Works that match f.
func (c *Client) List(ctx context.Context, f Filter) ([]*Info, error) {
	var out []*Info
	for _, kv := range []jetstream.KeyValue{c.s.works, c.s.mem} {
		infos, err := c.s.records(ctx, kv, func(i *Info) bool {
			return (f.Type == "" || i.Type == f.Type) && (f.Status == "" || i.Status == f.Status)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, infos...)
	}
	return out, nil
}

// DoWork submits w and waits for its result. It fails at once, with
// ErrNoContractor, when no contractor for w's type is registered.
func (c *Client) DoWork(ctx context.Context, w Work) (*warehouse.Warehouse, error) {
	snap, err := c.reg.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobcenter: %w", err)
	}
	if len(snap.Of(registry.RoleContractor, w.Type)) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoContractor, w.Type)
	}
	id, err := c.Submit(ctx, w)
	if err != nil {
		return nil, err
	}
	return c.Wait(ctx, id)
}
