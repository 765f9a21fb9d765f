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

	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"go.uber.org/zap"
)

// Framing. A call is one request and one reply, each sent as one or more
// NATS messages (chunks) that share the call's reply subject. NATS keeps the
// order of messages from one connection to one subscription, so chunks arrive
// in order.
//
// Request chunk: flags byte; on the first chunk only, a uvarint length and
// that many bytes of metadata; then body bytes.
// Reply chunk: flags byte, then body bytes (or, with flagError, error text).
const (
	flagMore  byte = 1 << 0 // more chunks of this message follow
	flagError byte = 1 << 1 // reply: the body is a protocol error's text
	flagRetry byte = 1 << 2 // reply, with flagError: the server could not finish; try elsewhere
)

// chunkHeadroom is what a chunk leaves of the connection's max payload for
// the flags byte and the metadata.
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
)

// RemoteError is a protocol-level error the serving side reported (a
// request it could not take), as opposed to an exception in user code,
// which travels as an exception Warehouse. Unavailable marks a server that
// could not finish the call (it is shutting down, or the call was
// cancelled): the same call may succeed elsewhere.
type RemoteError struct {
	Msg         string
	Unavailable bool
}

func (e *RemoteError) Error() string { return e.Msg }

// unavailableError is what Unavailable returns.
type unavailableError struct{ err error }

func (e unavailableError) Error() string { return e.err.Error() }
func (e unavailableError) Unwrap() error { return e.err }

// Unavailable wraps err for a Handler to return when it could not finish a
// call that could succeed elsewhere; the caller gets a RemoteError with
// Unavailable set.
func Unavailable(err error) error { return unavailableError{err} }

// publishChunks sends body to subject in chunks that fit nc's max payload.
// A request (request true) carries meta, length-prefixed, on its first
// chunk; a reply carries none.
func publishChunks(nc *nats.Conn, subject, reply string, flags byte, request bool, meta, body []byte) error {
	max := int(nc.MaxPayload()) - chunkHeadroom - len(meta)
	if max < 1024 {
		return fmt.Errorf("server max payload %d is too small", nc.MaxPayload())
	}
	size := min(len(body), max)
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(meta)+size)
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), max)
		f := flags
		if n < len(body) {
			f |= flagMore
		}
		buf = append(buf[:0], f)
		if first && request {
			buf = binary.AppendUvarint(buf, uint64(len(meta)))
			buf = append(buf, meta...)
		}
		buf = append(buf, body[:n]...)
		body = body[n:]
		var err error
		if reply == "" {
			err = nc.Publish(subject, buf)
		} else {
			err = nc.PublishRequest(subject, reply, buf)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Request is what a Handler gets: the caller's metadata and the body.
type Request struct {
	Meta []byte
	Body []byte
}

// Handler serves one request. A returned error goes back as a RemoteError.
// ctx is cancelled when the caller cancels the call or the Server closes.
type Handler func(ctx context.Context, req Request) ([]byte, error)

// Server serves Handlers on subjects of one connection, reassembling chunked
// requests and chunking replies. Each complete request runs on its own
// goroutine. It is safe for concurrent use.
type Server struct {
	nc      *nats.Conn
	maxSize int
	log     *zap.Logger
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup // running handlers

	mu      sync.Mutex // guards subs, parts, running, closed
	subs    []*nats.Subscription
	parts   map[string]*assembly          // partial requests by reply subject
	running map[string]context.CancelFunc // running calls by reply subject
	closed  bool
}

type assembly struct {
	meta    []byte
	body    []byte
	started time.Time
	tooBig  bool
}

// staleAssembly is how long a partial request may wait for its next chunk
// before it is dropped (its caller died mid-send).
const staleAssembly = time.Minute

// NewServer returns a Server on nc accepting bodies up to maxSize bytes.
func NewServer(nc *nats.Conn, maxSize int, log *zap.Logger) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		nc: nc, maxSize: maxSize, log: log, ctx: ctx, cancel: cancel,
		parts: make(map[string]*assembly), running: make(map[string]context.CancelFunc),
	}
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
	if err := sub.SetPendingLimits(1<<20, 4*int(max(s.maxSize, 1<<20))); err != nil {
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
func (s *Server) HandleCancel(subject string) error {
	return s.subscribe(subject, func(m *nats.Msg) {
		s.mu.Lock()
		cancel := s.running[string(m.Data)]
		s.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	})
}

func (s *Server) onChunk(m *nats.Msg, h Handler) {
	if m.Reply == "" || len(m.Data) == 0 {
		s.log.Warn("dropped a message with no reply subject or no frame", zap.String("subject", m.Subject))
		return
	}
	flags, data := m.Data[0], m.Data[1:]
	s.mu.Lock()
	a := s.parts[m.Reply]
	if a == nil {
		metaLen, n := binary.Uvarint(data)
		if n <= 0 || metaLen > uint64(len(data)-n) {
			s.mu.Unlock()
			s.replyError(m.Reply, "wire: malformed request frame")
			return
		}
		a = &assembly{meta: data[n : n+int(metaLen)], body: data[n+int(metaLen):], started: time.Now()}
		if flags&flagMore != 0 {
			s.sweepLocked(a.started)
			a.meta = append([]byte(nil), a.meta...)
			a.body = append(make([]byte, 0, 2*len(a.body)), a.body...)
			s.parts[m.Reply] = a
		}
	} else if !a.tooBig {
		a.body = append(a.body, data...)
	}
	if len(a.body) > s.maxSize && !a.tooBig {
		a.tooBig, a.body = true, nil
	}
	if flags&flagMore != 0 {
		s.mu.Unlock()
		return
	}
	delete(s.parts, m.Reply)
	if a.tooBig {
		s.mu.Unlock()
		s.replyError(m.Reply, fmt.Sprintf("wire: request body exceeds the limit of %d bytes", s.maxSize))
		return
	}
	if s.closed {
		s.mu.Unlock()
		s.replyErrorFlags(m.Reply, "wire: server shutting down", flagRetry)
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.running[m.Reply] = cancel
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		out, err := h(ctx, Request{Meta: a.meta, Body: a.body})
		s.mu.Lock()
		delete(s.running, m.Reply)
		s.mu.Unlock()
		cancel()
		if err != nil {
			var flags byte
			if errors.As(err, new(unavailableError)) {
				flags = flagRetry
			}
			s.replyErrorFlags(m.Reply, err.Error(), flags)
			return
		}
		if err := publishChunks(s.nc, m.Reply, "", 0, false, nil, out); err != nil {
			s.log.Warn("reply lost", zap.String("subject", m.Subject), zap.Error(err))
		}
	}()
}

// sweepLocked drops partial requests whose sender went quiet. s.mu is held.
func (s *Server) sweepLocked(now time.Time) {
	for reply, a := range s.parts {
		if now.Sub(a.started) > staleAssembly {
			delete(s.parts, reply)
			s.log.Warn("dropped a partial request", zap.String("reply", reply), zap.Int("bytes", len(a.body)))
		}
	}
}

func (s *Server) replyError(reply, msg string) { s.replyErrorFlags(reply, msg, 0) }

func (s *Server) replyErrorFlags(reply, msg string, flags byte) {
	if err := publishChunks(s.nc, reply, "", flagError|flags, false, nil, []byte(msg)); err != nil {
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
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	s.cancel()
	<-done
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

	mu     sync.Mutex // guards calls, next, closed
	calls  map[string]*call
	next   uint64
	closed bool
}

type call struct {
	body []byte
	err  error
	done func(body []byte, err error) // called once, with no lock held
}

// NewClient returns a Client on nc accepting replies up to maxSize bytes.
func NewClient(nc *nats.Conn, maxSize int) (*Client, error) {
	c := &Client{nc: nc, prefix: "_FI." + nuid.Next() + ".", maxSize: maxSize, calls: make(map[string]*call)}
	sub, err := nc.Subscribe(c.prefix+"*", c.onReply)
	if err != nil {
		return nil, fmt.Errorf("subscribe replies: %w", err)
	}
	if err := sub.SetPendingLimits(1<<20, 4*max(maxSize, 1<<20)); err != nil {
		return nil, err
	}
	c.sub = sub
	lost := func(*nats.Conn, error) { c.failAll(ErrConnectionLost) }
	nc.SetDisconnectErrHandler(lost)
	nc.SetClosedHandler(func(*nats.Conn) { c.failAll(ErrConnectionLost) })
	return c, nil
}

func (c *Client) onReply(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, c.prefix)
	if len(m.Data) == 0 {
		// Our frames are never empty: this is the server's status message.
		if m.Header.Get("Status") == "503" {
			c.fail(id, ErrNoResponders)
		}
		return
	}
	flags, data := m.Data[0], m.Data[1:]
	c.mu.Lock()
	cl := c.calls[id]
	if cl == nil { // cancelled or failed already
		c.mu.Unlock()
		return
	}
	if cl.body == nil && flags&flagMore == 0 {
		cl.body = data // the common case: one chunk, no copy
	} else {
		cl.body = append(cl.body, data...)
	}
	switch {
	case len(cl.body) > c.maxSize:
		cl.err = &warehouse.SizeError{Size: int64(len(cl.body)), Limit: int64(c.maxSize)}
	case flags&flagMore != 0:
		c.mu.Unlock()
		return
	case flags&flagError != 0:
		cl.err = &RemoteError{Msg: string(cl.body), Unavailable: flags&flagRetry != 0}
	}
	delete(c.calls, id)
	c.mu.Unlock()
	if cl.err != nil {
		cl.done(nil, cl.err)
	} else {
		cl.done(cl.body, nil)
	}
}

// fail ends call id with err, if it is still pending, and reports whether
// it was.
func (c *Client) fail(id string, err error) bool {
	c.mu.Lock()
	cl := c.calls[id]
	delete(c.calls, id)
	c.mu.Unlock()
	if cl != nil {
		cl.done(nil, err)
	}
	return cl != nil
}

func (c *Client) failAll(err error) {
	c.mu.Lock()
	calls := c.calls
	c.calls = make(map[string]*call)
	c.mu.Unlock()
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
		_ = p.c.nc.Publish(p.cancelSubject, []byte(p.c.prefix+p.id))
	}
}

// Go sends body (with meta) to subject and returns at once. done is called
// exactly once with the reply body or an error: on the Client's
// subscription goroutine (so it must not block), on the caller's if the
// send fails, or on Cancel's. Several Go calls in a row are written out
// together, which is what makes a pipeline fast.
func (c *Client) Go(subject, cancelSubject string, meta, body []byte, done func(body []byte, err error)) Pending {
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

	if err := publishChunks(c.nc, subject, c.prefix+id, 0, true, meta, body); err != nil {
		c.fail(id, fmt.Errorf("send to %s: %w", subject, err))
	}
	return Pending{c: c, id: id, cancelSubject: cancelSubject}
}

// Call sends body (with meta) to subject and waits for the reply body. When
// ctx ends first, Call publishes the call's reply subject to cancelSubject
// (if not blank) so the server can cancel the handler, and returns ctx.Err().
func (c *Client) Call(ctx context.Context, subject, cancelSubject string, meta, body []byte) ([]byte, error) {
	var out []byte
	var err error
	ch := make(chan struct{})
	p := c.Go(subject, cancelSubject, meta, body, func(b []byte, e error) { out, err = b, e; close(ch) })
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
