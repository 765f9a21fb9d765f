package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/security"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup starts a server, a wire.Server serving echo on "echo" (and errors
// on "fail"), and a Client.
func setup(t *testing.T, maxSize int) (*nats.Conn, *Client) {
	t.Helper()
	nc, c, _ := setupLimits(t, Limits{MaxSize: maxSize})
	return nc, c
}

// setupLimits is setup with the Server's limits, returning the Server too.
func setupLimits(t *testing.T, lim Limits) (*nats.Conn, *Client, *Server) {
	t.Helper()
	maxSize := lim.MaxSize
	ns, err := StartServer(ServerConfig{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	serveNC, err := Connect(ns.ClientURL(), ConnOptions{Security: security.Config{Token: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(serveNC.Close)
	srv := NewServer(serveNC, lim, zaptest.NewLogger(t))
	t.Cleanup(func() { srv.Close(context.Background()) })
	if err := srv.Handle("echo", func(ctx context.Context, r Request) ([]byte, error) {
		return append(append([]byte{}, r.Meta...), r.Body...), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle("fail", func(ctx context.Context, r Request) ([]byte, error) {
		return nil, errors.New("nope")
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle("block", func(ctx context.Context, r Request) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle("big", func(ctx context.Context, r Request) ([]byte, error) {
		n, _ := binary.Uvarint(r.Body)
		return bigBody(int(n)), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.HandleCancel("cancel"); err != nil {
		t.Fatal(err)
	}
	if err := serveNC.Flush(); err != nil {
		t.Fatal(err)
	}
	nc, err := Connect(ns.ClientURL(), ConnOptions{Security: security.Config{Token: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c, err := NewClient(nc, maxSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return nc, c, srv
}

func TestCall(t *testing.T) {
	_, c := setup(t, 32<<20)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16) // several chunks
	tests := []struct {
		name       string
		meta, body []byte
	}{
		{"empty", nil, nil},
		{"small", []byte("m"), []byte("hello")},
		{"chunked", []byte("meta"), big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := c.Call(ctx, "echo", "", tt.meta, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			want := append(append([]byte{}, tt.meta...), tt.body...)
			if !bytes.Equal(got, want) {
				t.Fatalf("echo returned %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

func TestCallErrors(t *testing.T) {
	_, c, srv := setupLimits(t, Limits{MaxSize: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Call(ctx, "fail", "", nil, []byte("x"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "nope" {
		t.Fatalf("fail: %v", err)
	}
	if _, err := c.Call(ctx, "echo", "", nil, make([]byte, 1<<20+1)); err == nil || !strings.Contains(err.Error(), "exceeds the limit of 1048576 bytes") {
		t.Fatalf("oversized call: %v", err)
	}
	// Nobody serves the subject: the server says so at once.
	if _, err := c.Call(ctx, "nobody.home", "", nil, []byte("x")); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("call to an unserved subject: %v, want ErrNoResponders", err)
	}
	// Cancelling the caller cancels the handler, which then returns.
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := c.Call(cctx, "block", "cancel", nil, nil); done <- err }()
	ccancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	// The handler returns once the cancellation reaches the server. Wait
	// for that: Close at cleanup unsubscribes, dropping a cancellation
	// still in flight, and then waits for the handler without end.
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv.mu.Lock()
		n := len(srv.running)
		srv.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still run 10 s after the caller cancelled", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMalformedFrames(t *testing.T) {
	nc, c := setup(t, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A meta length past the end of the frame: a RemoteError, not a panic.
	reply, err := nc.Request("echo", []byte{0, 0xff, 0x01}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(reply.Data) == 0 || reply.Data[0]&flagError == 0 || !strings.Contains(string(reply.Data[1:]), "malformed") {
		t.Fatalf("reply to a malformed frame = %q", reply.Data)
	}
	// The server still serves.
	if got, err := c.Call(ctx, "echo", "", nil, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("after malformed frames: %q, %v", got, err)
	}
}

// TestConcurrentChunkedCalls interleaves the chunks of several big calls on
// one connection; each must come back whole and its own.
func TestConcurrentChunkedCalls(t *testing.T) {
	_, c, _ := setupLimits(t, Limits{MaxSize: 32 << 20, Budget: 4 * (20<<20 + RequestOverhead)})
	const n = 4
	errs := make(chan error, n)
	for i := range n {
		go func() {
			body := bytes.Repeat([]byte{byte('a' + i)}, 18<<20+i) // three chunks each
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := c.Call(ctx, "echo", "", []byte{byte(i)}, body)
			if err == nil && (len(got) != len(body)+1 || got[0] != byte(i) || !bytes.Equal(got[1:], body)) {
				err = errors.New("a reply came back mixed or cut")
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// firstChunk is a request's first chunk declaring total body bytes, with
// flagMore.
func firstChunk(total int, body []byte) []byte {
	b := []byte{flagMore, 0}
	b = binary.AppendUvarint(b, uint64(total))
	return append(b, body...)
}

// TestBudget: requests past the budget are refused at once as busy, and
// the budget comes back when they finish.
func TestBudget(t *testing.T) {
	const size = 1 << 20
	_, c, srv := setupLimits(t, Limits{MaxSize: size, Budget: 3 * (size + RequestOverhead)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Three blocked calls fill the budget.
	bctx, unblock := context.WithCancel(ctx)
	errs := make(chan error, 3)
	for range 3 {
		go func() { _, err := c.Call(bctx, "block", "cancel", nil, make([]byte, size)); errs <- err }()
	}
	waitFor(t, "three calls to hold the budget", func() bool { return srv.Used() == 3*(size+RequestOverhead) })
	_, err := c.Call(ctx, "echo", "", nil, []byte("x"))
	var re *RemoteError
	if !errors.Is(err, ErrBusy) || !errors.As(err, &re) || !re.Unavailable {
		t.Fatalf("call past the budget: %v, want a busy, unavailable RemoteError", err)
	}
	unblock()
	for range 3 {
		<-errs
	}
	waitFor(t, "the budget to come back", func() bool { return srv.Used() == 0 })
	if got, err := c.Call(ctx, "echo", "", nil, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("after the budget came back: %q, %v", got, err)
	}
}

// TestPartialRequests: a request that never finishes holds only its
// declared size, is dropped when its sender goes or goes quiet, and a
// declared size over the limit is refused before its body arrives.
func TestPartialRequests(t *testing.T) {
	const size = 4 << 20
	nc, c, srv := setupLimits(t, Limits{MaxSize: size, Budget: 2 * size, PartialTimeout: 1500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cost := int64(size + RequestOverhead)

	// A sender that dies mid-request: dropped once the server finds it gone.
	dead, err := Connect(nc.ConnectedUrl(), ConnOptions{Security: security.Config{Token: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	inbox := nats.NewInbox()
	if _, err := dead.SubscribeSync(inbox); err != nil {
		t.Fatal(err)
	}
	if err := dead.PublishRequest("echo", inbox, firstChunk(size, make([]byte, 1000))); err != nil {
		t.Fatal(err)
	}
	if err := dead.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the partial request to hold its declared size", func() bool { return srv.Used() == cost })
	dead.Close()
	waitFor(t, "the dead sender's partial request to go", func() bool { return srv.Used() == 0 })

	// A sender that stays but sends no more: dropped after PartialTimeout.
	// A Client answers the server's probes; answer them here too.
	alive, err := nc.Subscribe(inbox, func(m *nats.Msg) { _ = m.Respond(nil) })
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Unsubscribe()
	if err := nc.PublishRequest("echo", inbox, firstChunk(size, make([]byte, 1000))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the quiet partial request to be held", func() bool { return srv.Used() == cost })
	waitFor(t, "the quiet partial request to expire", func() bool { return srv.Used() == 0 })

	// Declared over the limit: refused at the first chunk.
	big := nats.NewInbox()
	sub, err := nc.SubscribeSync(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("echo", big, firstChunk(size+1, make([]byte, 10))); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Data[0]&flagError == 0 || !strings.Contains(string(m.Data[1:]), "exceeds the limit") {
		t.Fatalf("reply to an oversized declaration: %q", m.Data)
	}
	// Its later chunks are dropped quietly, not taken as new requests.
	if err := nc.PublishRequest("echo", big, append([]byte{0}, make([]byte, 100)...)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Call(ctx, "echo", "", nil, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("after partial requests: %q, %v", got, err)
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("a refused request's last chunk got a reply: %q", m.Data)
	}
}

// bigBody is n bytes of a pattern whose period (a prime) shows misplaced
// chunks.
func bigBody(n int) []byte {
	period := make([]byte, 4093)
	for i := range period {
		period[i] = byte(i)
	}
	return bytes.Repeat(period, n/len(period)+1)[:n]
}

// waitingForRoom reports whether n calls of c have asks for room waiting.
func waitingForRoom(c *Client, n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := map[string]bool{}
	for _, a := range c.asks {
		calls[a.id] = true
	}
	return len(calls) == n
}

// TestReplyFlowControl: big replies to one Client come no faster than it
// takes them in. While its subscription is stuck, what queues for it stays
// within its window (without flow control, every reply's chunks would
// pile up: in the park, that cuts a foreman off as a slow consumer), and
// every reply arrives whole.
func TestReplyFlowControl(t *testing.T) {
	_, c, _ := setupLimits(t, Limits{MaxSize: 64 << 20})
	c.window = 16 << 20
	const calls, size = 8, 24 << 20
	var once sync.Once
	stuck := make(chan error, 1)
	results := make(chan error, calls)
	for i := range calls {
		n := size + i
		c.Go("big", "", nil, nil, binary.AppendUvarint(nil, uint64(n)), func(b []byte, err error) {
			once.Do(func() {
				// Hold the subscription until every other reply waits for
				// room (each is bigger than the window), or more than the
				// window waits for us (no flow control).
				deadline := time.Now().Add(time.Minute)
				for !waitingForRoom(c, calls-1) {
					if _, b, _ := c.sub.Pending(); b > c.window {
						break
					}
					if time.Now().After(deadline) {
						stuck <- errors.New("the other replies neither wait for room nor come")
						return
					}
					time.Sleep(time.Millisecond)
				}
				stuck <- nil
			})
			if err == nil && !bytes.Equal(b, bigBody(n)) {
				err = fmt.Errorf("reply of %d bytes came wrong (%d bytes)", n, len(b))
			}
			results <- err
		})
	}
	for range calls {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-stuck; err != nil {
		t.Fatal(err)
	}
	_, most, err := c.sub.MaxPending()
	if err != nil {
		t.Fatal(err)
	}
	if limit := c.window + 64<<10; most > limit {
		t.Fatalf("%d reply bytes queued at once, want at most the window %d", most, limit)
	}
	t.Logf("at most %d bytes queued for the Client (window %d)", most, c.window)
}

// TestAskFlood: a server that asks for room again and again for one call
// gets no more than a few asks queued; the rest are told the call is over.
func TestAskFlood(t *testing.T) {
	nc, c, srv := setupLimits(t, Limits{MaxSize: 64 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := c.Call(ctx, "block", "cancel", nil, nil); done <- err }()

	waitFor(t, "the call to be pending", func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.calls) == 1 })
	var id string
	c.mu.Lock()
	for k := range c.calls {
		id = k
	}
	c.mu.Unlock()
	chunk := binary.AppendUvarint(nil, 8<<20)
	granted, gone := 0, 0
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := nc.PublishRequest(c.prefix+id, inbox, chunk); err != nil {
			t.Fatal(err)
		}
	}
	// The window grants 8 asks of 8 MiB; 2*askAhead more wait; the rest
	// are refused.
	for granted+gone < 100-2*askAhead {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d granted and %d refused: %v", granted, gone, err)
		}
		if len(m.Data) == 0 {
			granted++
		} else {
			gone++
		}
	}
	c.mu.Lock()
	queued := len(c.asks)
	c.mu.Unlock()
	if granted != 8 || queued != 2*askAhead {
		t.Fatalf("%d asks granted, %d queued, %d refused; want 8, %d, the rest", granted, queued, gone, 2*askAhead)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the call: %v", err)
	}
	// The server must see the cancel before the test's cleanup closes it.
	waitFor(t, "the handler to be cancelled", func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return len(srv.running) == 0 })
}

// TestReplyGivenUp: a caller that makes no room for a big reply within
// the server's ReplyTimeout is told the reply was lost, instead of waiting
// for ever.
func TestReplyGivenUp(t *testing.T) {
	nc, _, _ := setupLimits(t, Limits{MaxSize: 64 << 20, ReplyTimeout: 100 * time.Millisecond})
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	body := binary.AppendUvarint(nil, 24<<20) // "big" replies with that many bytes
	frame := binary.AppendUvarint([]byte{0, 0}, uint64(len(body)))
	if err := nc.PublishRequest("big", inbox, append(frame, body...)); err != nil {
		t.Fatal(err)
	}
	// A caller that never answers: asks for room, then the error.
	asks := 0
	for {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d asks: %v", asks, err)
		}
		if m.Reply != "" {
			asks++
			continue
		}
		if len(m.Data) == 0 || m.Data[0] != flagError|flagRetry || !strings.Contains(string(m.Data[1:]), "the reply was lost") {
			t.Fatalf("after %d asks: %q, want an error saying the reply was lost", asks, m.Data)
		}
		break
	}
	if asks != askAhead {
		t.Fatalf("%d asks before the error, want %d", asks, askAhead)
	}
}

// A cancellation is taken only from the caller whose call it names: one
// published under another owner's name is dropped (logged), and the call
// goes on until its own caller cancels it.
func TestCancelOnlyOwnCalls(t *testing.T) {
	ns, err := StartServer(ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	conn := func(member string) *nats.Conn {
		nc, err := Connect(ns.ClientURL(), ConnOptions{Member: member})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	core, logs := observer.New(zap.WarnLevel)
	srv := NewServer(conn("worker"), Limits{MaxSize: 1 << 20}, zap.New(core))
	t.Cleanup(func() { srv.Close(context.Background()) })
	started, ended := make(chan struct{}, 1), make(chan struct{}, 1)
	if err := srv.Handle("block", func(ctx context.Context, r Request) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		ended <- struct{}{}
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.HandleCancel("cancel"); err != nil {
		t.Fatal(err)
	}
	if err := srv.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(conn("alice"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if !strings.HasPrefix(c.prefix, "_INBOX.alice.") {
		t.Fatalf("reply prefix %q, want it under _INBOX.alice.", c.prefix)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { _, err := c.Call(ctx, "block", "cancel", []byte("m"), nil); done <- err }()
	<-started
	srv.mu.Lock()
	var reply string
	for r := range srv.running {
		reply = r
	}
	srv.mu.Unlock()
	mallory := conn("mallory")
	if err := mallory.Publish("cancel.mallory", []byte(reply)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for logs.FilterMessage("dropped a cancellation of another caller's call").Len() == 0 {
		select {
		case <-deadline:
			t.Fatal("the foreign cancellation was not dropped")
		case <-time.After(time.Millisecond):
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the call ended on another's cancellation: %v", err)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the call cancelled by its caller: %v", err)
	}
	select {
	case <-ended: // the worker took its own caller's cancellation
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still runs after its caller cancelled the call")
	}
}

// TestCancelBeforeRun: a cancellation taken before its call runs (its
// chunks still coming, or none taken yet: each subscription delivers on its
// own goroutine) drops the call, which never runs, and gives back its
// budget. A handler that ran would block until the Server closed.
func TestCancelBeforeRun(t *testing.T) {
	const size = 1 << 20
	nc, _, srv := setupLimits(t, Limits{MaxSize: size})
	running := func() int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.running)
	}
	held := func(reply string) bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.parts[reply] != nil
	}
	cancelCall := func(reply string) {
		t.Helper()
		if err := nc.Publish("cancel."+replyOwner(reply), []byte(reply)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	// Cancelled before its only chunk.
	early := nats.NewInbox()
	cancelCall(early)
	waitFor(t, "the cancellation's tombstone", func() bool { return held(early) })
	if err := nc.PublishRequest("block", early, []byte{0, 0, 1, 'x'}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancelled request to be taken", func() bool { return !held(early) })
	if n := running(); n != 0 {
		t.Fatalf("%d calls running after a call cancelled before it came", n)
	}

	// Cancelled between its chunks.
	mid := nats.NewInbox()
	if err := nc.PublishRequest("block", mid, firstChunk(size, make([]byte, 1000))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the partial request to be held", func() bool { return srv.Used() == size+RequestOverhead })
	cancelCall(mid)
	waitFor(t, "the cancelled partial request's budget", func() bool { return srv.Used() == 0 })
	if err := nc.PublishRequest("block", mid, append([]byte{0}, make([]byte, size-1000)...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancelled request's last chunk to be taken", func() bool { return !held(mid) })
	if n := running(); n != 0 {
		t.Fatalf("%d calls running after a call cancelled between its chunks", n)
	}
}
