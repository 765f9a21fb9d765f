package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/tracing"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// Framing. A call is one request and one reply, each sent as one or more
// NATS messages (chunks) that share the call's reply subject. NATS keeps the
// order of messages from one connection to one subscription, so chunks arrive
// in order.
//
// Request chunk: flags byte; on the first chunk only, a uvarint length and
// that many bytes of metadata, then the uvarint length of the whole body
// (so a server can refuse or reserve it before the rest arrives); then body
// bytes.
// Reply chunk: flags byte, then body bytes (or, with flagError, error text).
const (
	flagMore  byte = 1 << 0 // more chunks of this message follow
	flagError byte = 1 << 1 // reply: the body is a protocol error's text
	flagRetry byte = 1 << 2 // reply, with flagError: the server could not finish; try elsewhere
	flagBusy  byte = 1 << 3 // reply, with flagError and flagRetry: over the server's budget; try later
	// flagBatch marks a message holding several calls' requests or
	// replies (see batch.go); it is never chunked.
	flagBatch byte = 1 << 4
	// flagCoalesce marks a request whose caller (a Client) takes its reply
	// inside a batch of replies.
	flagCoalesce byte = 1 << 5
)

// Flow control of replies. A reply bigger than askAbove asks its Client
// for room for each chunk, up to askAhead chunks ahead, and sends a chunk
// once its ask is answered: an ask is a request to the call's reply subject
// whose body is the chunk's size as a uvarint. The Client answers, in
// order, with an empty message when the bytes it has allowed and not yet
// received, across all its calls, leave room (an ask always fits when
// nothing is allowed), and with a non-empty one when the call is over (the
// server stops). An ask with no body is a probe: the Client answers at
// once. Since NATS keeps the order
// of one connection's messages, an ask reaches the Client after the chunks
// sent before it, so what a Client has allowed and not yet taken in bounds
// what waits for it in the NATS server between them.
const (
	askAbove = 64 << 10
	askAhead = 4 // chunks a reply asks for before it has room for the first
	// ReplyWindow bounds the reply bytes a Client allows in flight to it
	// (each reply of up to askAbove bytes comes on top, unasked).
	ReplyWindow = 64 << 20
)

// chunkHeadroom is what a chunk leaves of the connection's max payload for
// the flags byte and the lengths.
const chunkHeadroom = 64

var (
	// ErrConnectionLost fails calls whose connection dropped before the reply
	// came: the reply, if any, is lost.
	ErrConnectionLost = errors.New("connection lost before the reply")
	// ErrClosed fails calls on a closed Client.
	ErrClosed = errors.New("client closed")
	// ErrNoResponders fails a call to a subject nobody serves: the worker
	// is gone (or never was), as the NATS server reports at once.
	ErrNoResponders = errors.New("no responders: nobody serves the subject")
	// ErrBusy is matched by a RemoteError from a server whose request
	// budget was full: nothing ran, and the same call may succeed later.
	ErrBusy = errors.New("server busy: its request budget is full")
)

// RemoteError is a protocol-level error the serving side reported (a
// request it could not take), as opposed to an exception in user code,
// which travels as an exception Warehouse. Unavailable marks a server that
// could not finish the call (it is shutting down, or the call was
// cancelled): the same call may succeed elsewhere. Busy marks a server
// that did not take the call because its request budget was full; it
// matches ErrBusy.
type RemoteError struct {
	Msg         string
	Unavailable bool
	Busy        bool
}

func (e *RemoteError) Error() string { return e.Msg }

// Is reports whether a busy RemoteError is ErrBusy.
func (e *RemoteError) Is(target error) bool { return e.Busy && target == ErrBusy }

// unavailableError is what Unavailable returns.
type unavailableError struct{ err error }

func (e unavailableError) Error() string { return e.err.Error() }
func (e unavailableError) Unwrap() error { return e.err }

// Unavailable wraps err for a Handler to return when it could not finish a
// call that could succeed elsewhere; the caller gets a RemoteError with
// Unavailable set.
func Unavailable(err error) error { return unavailableError{err} }

// publishChunks sends body to subject in chunks that fit nc's max payload.
// A request (request true) carries meta and the body's length on its first
// chunk; a reply carries neither. If ask is not nil, it is called before
// each chunk and must return nil before the chunk goes (flow control: see
// Client).
func publishChunks(nc *nats.Conn, subject, reply string, flags byte, request bool, hdr nats.Header, meta, body []byte, ask func() error) error {
	max := chunkSize(nc, meta)
	if max < 1024 {
		return fmt.Errorf("server max payload %d is too small", nc.MaxPayload())
	}
	size := min(len(body), max)
	buf := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(meta)+size)
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), max)
		if ask != nil {
			if err := ask(); err != nil {
				return err
			}
		}
		f := flags
		if n < len(body) {
			f |= flagMore
		}
		buf = append(buf[:0], f)
		if first && request {
			buf = binary.AppendUvarint(buf, uint64(len(meta)))
			buf = append(buf, meta...)
			buf = binary.AppendUvarint(buf, uint64(len(body)))
		}
		buf = append(buf, body[:n]...)
		body = body[n:]
		var err error
		switch {
		case first && hdr != nil: // the trace context, on the first chunk
			err = nc.PublishMsg(&nats.Msg{Subject: subject, Reply: reply, Header: hdr, Data: buf})
		case reply == "":
			err = nc.Publish(subject, buf)
		default:
			err = nc.PublishRequest(subject, reply, buf)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// chunkSize is the most body bytes a chunk carrying meta takes on nc.
func chunkSize(nc *nats.Conn, meta []byte) int {
	return int(nc.MaxPayload()) - chunkHeadroom - len(meta)
}

// parseFirst splits a request's first chunk (after the flags byte) into its
// metadata, the whole body's declared length, and the body bytes it holds.
func parseFirst(data []byte) (meta []byte, total uint64, body []byte, ok bool) {
	metaLen, n := binary.Uvarint(data)
	if n <= 0 || metaLen > uint64(len(data)-n) {
		return nil, 0, nil, false
	}
	meta, data = data[n:n+int(metaLen)], data[n+int(metaLen):]
	total, n = binary.Uvarint(data)
	if n <= 0 || total < uint64(len(data)-n) {
		return nil, 0, nil, false
	}
	return meta, total, data[n:], true
}

// Request is what a Handler gets: the caller's metadata and the body.
type Request struct {
	Meta []byte
	Body []byte
}

// Handler serves one request. A returned error goes back as a RemoteError.
// ctx is cancelled when the caller cancels the call or the Server closes.
type Handler func(ctx context.Context, req Request) ([]byte, error)

// Limits bound what a Server holds for requests.
type Limits struct {
	// MaxSize bounds one request body, in bytes; required.
	MaxSize int
	// Budget bounds the bytes of the requests a Server holds at once:
	// arriving in chunks, waiting for their handler, and running, each
	// counted at its declared body size and metadata plus a fixed
	// RequestOverhead. A request past it is refused at once with a busy
	// reply (ErrBusy). If zero, it defaults to 2 × MaxSize.
	Budget int64
	// PartialTimeout is how long a request that arrives in chunks may wait
	// for its next chunk before it is dropped and its bytes freed. If zero,
	// it defaults to 10s. A partial request whose sender's connection has
	// closed is dropped sooner: within about a second of going quiet.
	PartialTimeout time.Duration
	// ReplyTimeout is how long a big reply waits for its caller to make
	// room (see askAbove) before it is given up and the caller told so
	// (a RemoteError marked Unavailable). If zero, it defaults to 1 minute.
	ReplyTimeout time.Duration
}

// RequestOverhead is what a Server counts against its budget for each
// request besides its bytes: the goroutine and bookkeeping of a queued
// call, so that a flood of tiny requests is bounded too.
const RequestOverhead = 4 << 10

// maxTombstones bounds the refused chunked requests and the calls cancelled
// before they ran that a Server remembers so as to drop their later chunks
// quietly.
const maxTombstones = 1 << 14

// probeAfter is how long a partial request stays quiet before the Server
// asks whether its sender is still connected.
const probeAfter = time.Second

// Server serves Handlers on subjects of one connection, reassembling chunked
// requests and chunking replies. Each complete request runs on its own
// goroutine. It holds no more request bytes than its budget. It is safe for
// concurrent use.
type Server struct {
	nc     *nats.Conn
	lim    Limits
	log    *zap.Logger
	ctx    context.Context // cancelled by Close once handlers had their time
	cancel context.CancelFunc
	wg     sync.WaitGroup // running handlers

	bgCtx    context.Context // cancelled by Close first
	bgCancel context.CancelFunc
	bg       sync.WaitGroup // the sweeper and its probes

	runners runners // run the handlers

	mu      sync.Mutex // guards subs, parts, running, used, closed
	subs    []*nats.Subscription
	parts   map[string]*assembly          // partial (or refused) requests by reply subject
	running map[string]context.CancelFunc // running calls by reply subject
	used    int64                         // budget held by partial, queued and running requests
	closed  bool

	rmu       sync.Mutex // guards rq and held
	rq        []outReply // replies waiting to go in a batch (see hold)
	held      int        // their bytes
	holdTimer *time.Timer
}

// assembly is a request arriving in chunks.
type assembly struct {
	meta    []byte
	body    []byte
	total   int       // the declared body length
	cost    int64     // what it holds of the budget
	last    time.Time // when its last chunk came
	refused bool      // answered already: its chunks are dropped until the last
	probing bool
	header  nats.Header // of its first chunk: a trace context
}

// NewServer returns a Server on nc within lim. Close stops it.
func NewServer(nc *nats.Conn, lim Limits, log *zap.Logger) *Server {
	if lim.Budget == 0 {
		lim.Budget = 2 * int64(lim.MaxSize)
	}
	if lim.ReplyTimeout == 0 {
		lim.ReplyTimeout = time.Minute
	}
	if lim.PartialTimeout == 0 {
		lim.PartialTimeout = 10 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		nc: nc, lim: lim, log: log, ctx: ctx, cancel: cancel,
		parts: make(map[string]*assembly), running: make(map[string]context.CancelFunc),
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.runners.stop, s.runners.idle = s.bgCtx.Done(), s.flushReplies
	s.holdTimer = time.AfterFunc(time.Hour, s.flushReplies)
	s.holdTimer.Stop()
	s.bg.Add(1)
	go s.sweeper()
	return s
}

// Used returns the bytes of the budget that requests hold now.
func (s *Server) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

func (s *Server) subscribe(subject string, cb nats.MsgHandler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	sub, err := s.nc.Subscribe(subject, cb)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", subject, err)
	}
	// A whole chunked Warehouse may queue here at once.
	if err := sub.SetPendingLimits(1<<20, 4*int(max(s.lim.MaxSize, 1<<20))); err != nil {
		return err
	}
	s.subs = append(s.subs, sub)
	return nil
}

// Handle serves h on subject.
func (s *Server) Handle(subject string, h Handler) error {
	return s.subscribe(subject, func(m *nats.Msg) { s.onChunk(m, h) })
}

// HandleCancel serves cancellations on subject: a message whose body is the
// reply subject of a running call cancels that call's context.
//
// A cancellation comes on subject + "." + the caller's owner token (the
// second token of its reply subjects, see NewClient), and is taken only for
// a call whose reply subject has that token: where credentials let a member
// publish cancellations only under its own name, nobody cancels another's
// calls.
func (s *Server) HandleCancel(subject string) error {
	return s.subscribe(subject+".*", func(m *nats.Msg) {
		owner := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		if replyOwner(string(m.Data)) != owner {
			s.log.Warn("dropped a cancellation of another caller's call", zap.String("subject", m.Subject))
			return
		}
		reply := string(m.Data)
		s.mu.Lock()
		cancel := s.running[reply]
		if cancel == nil {
			// Not running yet: its chunks are still coming, or not even its
			// first has been taken (each subscription delivers on its own
			// goroutine). Drop it, or leave a tombstone that drops it when
			// it comes; the sweeper clears tombstones of calls that ended.
			if a := s.parts[reply]; a != nil {
				s.releaseLocked(a)
			} else if len(s.parts) < maxTombstones {
				s.parts[reply] = &assembly{refused: true, last: time.Now()}
			}
		}
		s.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	})
}

// refusal is a request the Server does not take: the reply to send, and
// its flags.
type refusal struct {
	msg   string
	flags byte
}

func (s *Server) onChunk(m *nats.Msg, h Handler) {
	if m.Reply == "" || len(m.Data) == 0 {
		s.log.Warn("dropped a message with no reply subject or no frame", zap.String("subject", m.Subject))
		return
	}
	flags, data := m.Data[0], m.Data[1:]
	if flags&flagBatch != 0 {
		s.onBatch(m.Reply, data, h)
		return
	}
	more := flags&flagMore != 0
	now := time.Now()
	s.mu.Lock()
	a := s.parts[m.Reply]
	var no *refusal
	switch {
	case a == nil:
		a, no = s.firstLocked(data, more, now)
		if no == nil {
			a.header = m.Header
		}
		if no != nil && more && len(s.parts) < maxTombstones {
			s.parts[m.Reply] = &assembly{refused: true, last: now}
		} else if no == nil && more {
			s.parts[m.Reply] = a
		}
	case a.refused:
		a.last = now
	case len(a.body)+len(data) > a.total:
		no = &refusal{msg: "wire: malformed request: more body than declared"}
		s.releaseLocked(a)
	default:
		a.last = now
		a.body = append(a.body, data...)
	}
	if no == nil && !a.refused && !more && len(a.body) != a.total {
		no = &refusal{msg: "wire: malformed request: less body than declared"}
		s.releaseLocked(a)
	}
	if !more && a != nil && s.parts[m.Reply] == a {
		delete(s.parts, m.Reply)
	}
	if no != nil || more || a.refused {
		s.mu.Unlock()
		if no != nil {
			s.replyErrorFlags(m.Reply, no.msg, no.flags)
		}
		return
	}
	coalesce := flags&flagCoalesce != 0
	s.startLocked(m.Reply, a, h, coalesce)
	s.mu.Unlock()
}

// startLocked registers a call whose request is complete and runs its
// handler on a runner. s.mu is held; the handler runs once it is
// released. coalesce lets a small reply go in a batch of replies.
func (s *Server) startLocked(reply string, a *assembly, h Handler, coalesce bool) {
	ctx, cancel := context.WithCancel(tracing.Extract(s.ctx, a.header))
	s.running[reply] = cancel
	s.wg.Add(1)
	s.run(func() {
		defer s.wg.Done()
		out, err := h(ctx, Request{Meta: a.meta, Body: a.body})
		s.mu.Lock()
		delete(s.running, reply)
		s.used -= a.cost
		s.mu.Unlock()
		cancel()
		if err != nil {
			var flags byte
			if errors.As(err, new(unavailableError)) {
				flags = flagRetry
			}
			s.replyError(reply, err.Error(), flags, coalesce)
			return
		}
		if coalesce && len(out) <= coalesceMax {
			s.hold(outReply{reply: reply, body: out})
			return
		}
		if err := s.reply(reply, out); errors.Is(err, errCallerGone) {
			s.log.Debug("reply dropped: the caller no longer waits for it", zap.String("reply", reply))
		} else if err != nil {
			// Tell the caller, so that it does not wait for the rest: it
			// may try elsewhere.
			s.log.Warn("reply lost", zap.String("reply", reply), zap.Error(err))
			s.replyErrorFlags(reply, "wire: the reply was lost: "+err.Error(), flagRetry)
		}
	})
}

// replyError sends an error reply, in a batch of replies if the caller
// takes them so.
func (s *Server) replyError(reply, msg string, flags byte, coalesce bool) {
	if coalesce {
		s.hold(outReply{reply: reply, flags: flagError | flags, body: []byte(msg)})
		return
	}
	s.replyErrorFlags(reply, msg, flags)
}

// run runs job on a runner. The caller holds s.wg for job, so Close's
// wait for s.wg orders the runner's start before runners.wg.Wait.
func (s *Server) run(job func()) { s.runners.run(job) }

// firstLocked takes a request's first chunk: it checks the declared size
// against the limit and the budget and reserves it. s.mu is held.
func (s *Server) firstLocked(data []byte, more bool, now time.Time) (*assembly, *refusal) {
	meta, total, body, ok := parseFirst(data)
	switch {
	case !ok:
		return nil, &refusal{msg: "wire: malformed request frame"}
	case total > uint64(s.lim.MaxSize):
		return nil, &refusal{msg: fmt.Sprintf("wire: request body of %d bytes exceeds the limit of %d bytes", total, s.lim.MaxSize)}
	}
	a, no := s.admitLocked(len(meta), int(total), now)
	if no != nil {
		return nil, no
	}
	if more {
		a.meta = append([]byte(nil), meta...)
		a.body = append(make([]byte, 0, a.total), body...)
	} else {
		a.meta, a.body = meta, body
	}
	return a, nil
}

// admitLocked reserves the budget of a request of size bytes with meta
// bytes of metadata, or refuses it. s.mu is held.
func (s *Server) admitLocked(meta, size int, now time.Time) (*assembly, *refusal) {
	switch {
	case size > s.lim.MaxSize:
		return nil, &refusal{msg: fmt.Sprintf("wire: request body of %d bytes exceeds the limit of %d bytes", size, s.lim.MaxSize)}
	case s.closed:
		return nil, &refusal{msg: "wire: server shutting down", flags: flagRetry}
	}
	a := &assembly{total: size, cost: int64(size) + int64(meta) + RequestOverhead, last: now}
	if s.used+a.cost > s.lim.Budget {
		return nil, &refusal{msg: fmt.Sprintf("wire: busy: a request of %d bytes is over the %d bytes of budget left",
			a.cost, max(s.lim.Budget-s.used, 0)), flags: flagRetry | flagBusy}
	}
	s.used += a.cost
	return a, nil
}

// releaseLocked gives back a partial request's budget and marks it
// refused, so its later chunks are dropped. s.mu is held.
func (s *Server) releaseLocked(a *assembly) {
	if !a.refused {
		s.used -= a.cost
		a.refused, a.body, a.meta = true, nil, nil
	}
}

// sweeper drops partial requests that went quiet for PartialTimeout, and
// those whose sender's connection has closed, until Close.
func (s *Server) sweeper() {
	defer s.bg.Done()
	t := time.NewTicker(min(probeAfter, s.lim.PartialTimeout/2))
	defer t.Stop()
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case now := <-t.C:
			s.sweep(now)
		}
	}
}

func (s *Server) sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for reply, a := range s.parts {
		quiet := now.Sub(a.last)
		switch {
		case quiet > s.lim.PartialTimeout:
			if !a.refused {
				s.log.Warn("dropped a partial request: no chunk in time", zap.String("reply", reply),
					zap.Int("bytes", len(a.body)), zap.Int("declared", a.total))
			}
			s.releaseLocked(a)
			delete(s.parts, reply)
		case quiet > probeAfter && !a.refused && !a.probing:
			a.probing = true
			s.bg.Add(1)
			go s.probe(reply, a)
		}
	}
}

// probe asks whether anybody still listens on a partial request's reply
// subject (the Client answers); if nobody does, its sender is gone and the
// request is dropped.
func (s *Server) probe(reply string, a *assembly) {
	defer s.bg.Done()
	ctx, cancel := context.WithTimeout(s.bgCtx, probeAfter)
	defer cancel()
	msg, err := s.nc.RequestWithContext(ctx, reply, nil)
	gone := errors.Is(err, nats.ErrNoResponders) || err == nil && len(msg.Data) > 0
	s.mu.Lock()
	defer s.mu.Unlock()
	a.probing = false
	if gone && s.parts[reply] == a {
		s.log.Warn("dropped a partial request: its sender is gone", zap.String("reply", reply),
			zap.Int("bytes", len(a.body)), zap.Int("declared", a.total))
		s.releaseLocked(a)
		delete(s.parts, reply)
	}
}

// reply sends a handler's result. One bigger than askAbove asks the caller
// for room for each chunk, so that a caller receiving many big replies at
// once (a foreman behind the park) gets them no faster than it takes them
// in: otherwise the NATS server between them would buffer them all and cut
// the caller off as a slow consumer. It asks up to askAhead chunks ahead,
// so the chunks of one reply still stream.
func (s *Server) reply(subject string, body []byte) error {
	if len(body) <= askAbove {
		return publishChunks(s.nc, subject, "", 0, false, nil, nil, body, nil)
	}
	inbox := s.nc.NewInbox()
	grants, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer func() { _ = grants.Unsubscribe() }()
	chunk := chunkSize(s.nc, nil)
	asked, waiting := 0, 0 // bytes asked for; asks not answered yet
	return publishChunks(s.nc, subject, "", 0, false, nil, nil, body, func() error {
		for waiting < askAhead && asked < len(body) {
			n := min(chunk, len(body)-asked)
			if err := s.nc.PublishRequest(subject, inbox, binary.AppendUvarint(nil, uint64(n))); err != nil {
				return err
			}
			asked += n
			waiting++
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.lim.ReplyTimeout)
		defer cancel()
		msg, err := grants.NextMsgWithContext(ctx)
		switch {
		case err != nil:
			return fmt.Errorf("the caller gave no room for the reply: %w", err)
		case len(msg.Data) > 0 || msg.Header.Get("Status") == "503": // over, or nobody listens
			return errCallerGone
		}
		waiting--
		return nil
	})
}

// errCallerGone stops a reply whose call was cancelled or whose caller left.
var errCallerGone = errors.New("the caller no longer waits for the reply")

func (s *Server) replyErrorFlags(reply, msg string, flags byte) {
	if err := publishChunks(s.nc, reply, "", flagError|flags, false, nil, nil, []byte(msg), nil); err != nil {
		s.log.Warn("error reply lost", zap.String("error", msg), zap.Error(err))
	}
}

// Close unsubscribes, lets running handlers finish until ctx ends, then
// cancels the rest and waits for them to return and reply. It is safe to
// call twice.
func (s *Server) Close(ctx context.Context) {
	s.mu.Lock()
	subs := s.subs
	s.subs, s.closed = nil, true
	s.mu.Unlock()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
	// Make sure the server has dropped the interest before callers are told
	// anything: a call that comes after gets "no responders" at once.
	_ = s.nc.FlushTimeout(time.Second)
	s.mu.Lock()
	for reply, a := range s.parts {
		s.releaseLocked(a)
		delete(s.parts, reply)
	}
	s.mu.Unlock()
	s.bgCancel()
	s.bg.Wait()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.cancel()
	<-done
	s.runners.wg.Wait()
	s.holdTimer.Stop()
	s.flushReplies()
}

// Client makes calls over one connection through one reply subscription. It
// is safe for concurrent use. NewClient takes over the connection's
// disconnect and closed handlers: calls in flight when the connection drops
// fail with ErrConnectionLost.
type Client struct {
	nc      *nats.Conn
	prefix  string // reply subjects are prefix + call id
	maxSize int
	sub     *nats.Subscription

	mu       sync.Mutex // guards the fields below
	calls    map[string]*call
	batches  map[string]*batch // batches with calls not over yet, by their first call's id
	next     uint64
	closed   bool
	window   int   // ReplyWindow; smaller in tests
	inflight int   // reply bytes allowed and not yet received
	asks     []ask // servers waiting for room, in order
}

type call struct {
	body   []byte
	parts  [][]byte // the chunks of a reply in several, until its last
	size   int      // the reply's bytes so far
	err    error
	done   func(body []byte, err error) // called once, with no lock held
	credit int                          // bytes allowed and not yet received
	asking int                          // asks of this call waiting for room
	batch  *batch                       // the batch it was sent in, if any
}

// ask is a server's request for room to send n more bytes of call id.
type ask struct {
	id    string
	n     int
	reply string
}

// goneMsg answers an ask or probe for a call that is over.
var goneMsg = []byte{0}

// replyOwner returns the owner token of a reply subject: its second token
// ("_INBOX.<owner>...."), the member's name when the connection has one.
func replyOwner(reply string) string {
	_, rest, _ := strings.Cut(reply, ".")
	owner, _, _ := strings.Cut(rest, ".")
	return owner
}

// NewClient returns a Client on nc accepting replies up to maxSize bytes.
// Its replies come under one of nc's inboxes (so under the member's name
// where the connection has one: see ConnOptions.Member).
func NewClient(nc *nats.Conn, maxSize int) (*Client, error) {
	c := &Client{nc: nc, prefix: nc.NewInbox() + ".", maxSize: maxSize, window: ReplyWindow,
		calls: make(map[string]*call), batches: make(map[string]*batch)}
	sub, err := nc.Subscribe(c.prefix+"*", c.onReply)
	if err != nil {
		return nil, fmt.Errorf("subscribe replies: %w", err)
	}
	if err := sub.SetPendingLimits(1<<20, 4*max(maxSize, 1<<20)); err != nil {
		return nil, err
	}
	c.sub = sub
	nc.SetDisconnectErrHandler(func(nc *nats.Conn, err error) { c.failAll(connectionLost(nc, err)) })
	nc.SetClosedHandler(func(nc *nats.Conn) { c.failAll(connectionLost(nc, nil)) })
	return c, nil
}

// connectionLost is ErrConnectionLost with why nc dropped (err, else its
// last error), if it says.
func connectionLost(nc *nats.Conn, err error) error {
	if err == nil {
		err = nc.LastError()
	}
	switch {
	case err == nil:
		return ErrConnectionLost
	case errors.Is(err, nats.ErrStaleConnection):
		return fmt.Errorf("%w: the server stopped answering pings (the link drops packets: a partition?)", ErrConnectionLost)
	default:
		return fmt.Errorf("%w: %v", ErrConnectionLost, err)
	}
}

func (c *Client) onReply(m *nats.Msg) {
	if m.Reply != "" {
		c.onAsk(m) // our replies never ask for an answer: a server asks
		return
	}
	id := strings.TrimPrefix(m.Subject, c.prefix)
	if len(m.Data) == 0 {
		// Our frames are never empty: this is the server's status message.
		if m.Header.Get("Status") == "503" {
			if key, ok := strings.CutPrefix(id, batchToken); ok {
				c.failBatch(key, ErrNoResponders)
			} else {
				c.fail(id, ErrNoResponders)
			}
		}
		return
	}
	flags, data := m.Data[0], m.Data[1:]
	if flags&flagBatch != 0 {
		c.onBatch(data)
		return
	}
	c.take(id, flags, data)
}

// take takes a reply chunk (data, with its flags) of call id.
func (c *Client) take(id string, flags byte, data []byte) {
	c.mu.Lock()
	cl := c.calls[id]
	if cl == nil { // cancelled or failed already
		c.mu.Unlock()
		return
	}
	taken := min(len(data), cl.credit)
	cl.credit -= taken
	c.inflight -= taken
	// A chunk's data is its message's own (nats.go gives each message
	// fresh bytes): the chunks are kept as they come and copied once, into
	// a body of the right size, at the last (growing one body as they came
	// copied it about twice over, 25% of a foreman's CPU for 64 MiB).
	cl.size += len(data)
	switch {
	case flags&flagError != 0 && flags&flagMore == 0:
		cl.body, cl.parts = data, nil // an error ends the reply, whatever came before it
	case cl.parts == nil && flags&flagMore == 0:
		cl.body = data // the common case: one chunk, no copy
	case flags&flagMore != 0:
		cl.parts = append(cl.parts, data)
	default:
		cl.body = make([]byte, 0, cl.size)
		for _, p := range cl.parts {
			cl.body = append(cl.body, p...)
		}
		cl.body, cl.parts = append(cl.body, data...), nil
	}
	switch {
	case cl.size > c.maxSize:
		cl.err = &warehouse.SizeError{Size: int64(cl.size), Limit: int64(c.maxSize)}
		cl.parts = nil
	case flags&flagMore != 0:
		grants, gone := c.grantLocked()
		c.mu.Unlock()
		c.answer(grants, gone)
		return
	case flags&flagError != 0:
		cl.err = &RemoteError{Msg: string(cl.body), Unavailable: flags&flagRetry != 0, Busy: flags&flagBusy != 0}
	}
	c.endLocked(id, cl)
	grants, gone := c.grantLocked()
	c.mu.Unlock()
	c.answer(grants, gone)
	if cl.err != nil {
		cl.done(nil, cl.err)
	} else {
		cl.done(cl.body, nil)
	}
}

// onAsk answers a server's ask for room (or probe) on a call's reply
// subject; see askAbove.
func (c *Client) onAsk(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, c.prefix)
	n, k := binary.Uvarint(m.Data)
	c.mu.Lock()
	cl := c.calls[id]
	if cl == nil || k <= 0 || n == 0 || cl.asking >= 2*askAhead {
		c.mu.Unlock()
		if cl == nil || n > 0 { // over, or asking more than a server may
			_ = m.Respond(goneMsg)
		} else {
			_ = m.Respond(nil) // a probe: we are here
		}
		return
	}
	// A server may ask for no more than a chunk; a hostile one asking for
	// more gets the window at most, which it cannot use to starve others
	// for longer than its call lasts.
	c.asks = append(c.asks, ask{id: id, n: int(min(n, uint64(c.window))), reply: m.Reply})
	cl.asking++
	grants, gone := c.grantLocked()
	c.mu.Unlock()
	c.answer(grants, gone)
}

// grantLocked takes the asks that fit in the window, in order, and those
// of calls that are over. c.mu is held.
func (c *Client) grantLocked() (grants, gone []string) {
	for len(c.asks) > 0 {
		a := c.asks[0]
		cl := c.calls[a.id]
		if cl == nil {
			gone = append(gone, a.reply)
		} else if c.inflight > 0 && c.inflight+a.n > c.window {
			break
		} else {
			c.inflight += a.n
			cl.credit += a.n
			cl.asking--
			grants = append(grants, a.reply)
		}
		c.asks = c.asks[1:]
	}
	return grants, gone
}

func (c *Client) answer(grants, gone []string) {
	for _, r := range grants {
		_ = c.nc.Publish(r, nil)
	}
	for _, r := range gone {
		_ = c.nc.Publish(r, goneMsg)
	}
}

// endLocked removes a call that is over and gives back the room it held.
// c.mu is held.
func (c *Client) endLocked(id string, cl *call) {
	delete(c.calls, id)
	if b := cl.batch; b != nil {
		if b.left--; b.left == 0 {
			delete(c.batches, b.ids[0])
		}
	}
	c.inflight -= cl.credit
	cl.credit = 0
}

// fail ends call id with err, if it is still pending, and reports whether
// it was.
func (c *Client) fail(id string, err error) bool {
	c.mu.Lock()
	cl := c.calls[id]
	var grants, gone []string
	if cl != nil {
		c.endLocked(id, cl)
		grants, gone = c.grantLocked()
	}
	c.mu.Unlock()
	if cl != nil {
		c.answer(grants, gone)
		cl.done(nil, err)
	}
	return cl != nil
}

func (c *Client) failAll(err error) {
	c.mu.Lock()
	calls := c.calls
	c.calls = make(map[string]*call)
	clear(c.batches)
	c.inflight = 0
	grants, gone := c.grantLocked() // all gone: their calls are
	c.mu.Unlock()
	c.answer(grants, gone)
	for _, cl := range calls {
		cl.done(nil, err)
	}
}

// Pending is a call in flight, from Go.
type Pending struct {
	c             *Client
	id            string
	cancelSubject string
}

// Cancel ends the call with err (its done gets err) and asks the server
// to cancel the handler, unless the call is over already.
func (p Pending) Cancel(err error) {
	if p.c != nil && p.c.fail(p.id, err) && p.cancelSubject != "" {
		_ = p.c.nc.Publish(p.cancelSubject+"."+replyOwner(p.c.prefix), []byte(p.c.prefix+p.id))
	}
}

// Go sends body (with meta, and hdr as its header if not nil: a trace
// context) to subject and returns at once. done is called
// exactly once with the reply body or an error: on the Client's
// subscription goroutine (so it must not block), on the caller's if the
// send fails, or on Cancel's. Several Go calls in a row are written out
// together, which is what makes a pipeline fast.
func (c *Client) Go(subject, cancelSubject string, hdr nats.Header, meta, body []byte, done func(body []byte, err error)) Pending {
	if len(body) > c.maxSize {
		done(nil, &warehouse.SizeError{Size: int64(len(body)), Limit: int64(c.maxSize)})
		return Pending{c: c}
	}
	cl := &call{done: done}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		done(nil, ErrClosed)
		return Pending{c: c}
	}
	c.next++
	id := strconv.FormatUint(c.next, 36)
	c.calls[id] = cl
	c.mu.Unlock()

	if err := publishChunks(c.nc, subject, c.prefix+id, flagCoalesce, true, hdr, meta, body, nil); err != nil {
		c.fail(id, fmt.Errorf("send to %s: %w", subject, err))
	}
	return Pending{c: c, id: id, cancelSubject: cancelSubject}
}

// Call sends body (with meta, and the trace context of ctx) to subject
// and waits for the reply body. When
// ctx ends first, Call publishes the call's reply subject to cancelSubject
// (if not blank) so the server can cancel the handler, and returns ctx.Err().
func (c *Client) Call(ctx context.Context, subject, cancelSubject string, meta, body []byte) ([]byte, error) {
	var out []byte
	var err error
	ch := make(chan struct{})
	p := c.Go(subject, cancelSubject, tracing.Inject(ctx), meta, body, func(b []byte, e error) { out, err = b, e; close(ch) })
	select {
	case <-ch:
		return out, err
	case <-ctx.Done():
		p.Cancel(ctx.Err())
		<-ch
		return out, err
	}
}

// Close fails pending calls with ErrClosed and stops the reply subscription.
// It does not close the connection. It is safe to call twice.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	_ = c.sub.Unsubscribe()
	c.failAll(ErrClosed)
}
