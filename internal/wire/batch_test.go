package wire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// goBatch makes calls with bodies through GoBatch and returns their
// replies and errors, in order.
func goBatch(t *testing.T, c *Client, subject string, meta []byte, bodies [][]byte) ([][]byte, []error, []Pending) {
	t.Helper()
	type result struct {
		body []byte
		err  error
	}
	done := make([]chan result, len(bodies))
	calls := make([]Call, len(bodies))
	for i, b := range bodies {
		done[i] = make(chan result, 1)
		calls[i] = Call{Body: b, Done: func(body []byte, err error) { done[i] <- result{body, err} }}
	}
	ps := c.GoBatch(subject, "cancel", meta, calls)
	outs, errs := make([][]byte, len(bodies)), make([]error, len(bodies))
	for i := range done {
		select {
		case r := <-done[i]:
			outs[i], errs[i] = r.body, r.err
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d of the batch: no reply in 10s", i)
		}
	}
	return outs, errs, ps
}

// TestBatch: small calls go in one message and each gets its own reply;
// a big one goes on its own.
func TestBatch(t *testing.T) {
	nc, c := setup(t, 1<<20)
	var msgs atomic.Int64
	sub, err := nc.Subscribe("echo", func(*nats.Msg) { msgs.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	bodies := make([][]byte, 51)
	for i := range 50 {
		bodies[i] = fmt.Appendf(nil, "task %d", i)
	}
	bodies[50] = bytes.Repeat([]byte("b"), coalesceMax+1)
	outs, errs, _ := goBatch(t, c, "echo", []byte("m:"), bodies)
	for i := range bodies {
		if want := append([]byte("m:"), bodies[i]...); errs[i] != nil || !bytes.Equal(outs[i], want) {
			t.Fatalf("call %d: %.20q, %v; want %.20q", i, outs[i], errs[i], want)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := msgs.Load(); n != 2 {
		t.Fatalf("51 calls went in %d messages, want 2 (50 small ones together, the big one alone)", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.calls) != 0 || len(c.batches) != 0 {
		t.Fatalf("after every reply the Client holds %d calls and %d batches", len(c.calls), len(c.batches))
	}
}

// TestBatchPerCall: each call of a batch has its own share of the budget,
// its own error and its own cancellation.
func TestBatchPerCall(t *testing.T) {
	const size = 1 << 10
	_, c, srv := setupLimits(t, Limits{MaxSize: size, Budget: 3 * (size + RequestOverhead)})

	_, errs, _ := goBatch(t, c, "fail", nil, [][]byte{{1}, {2}})
	for i, err := range errs {
		var re *RemoteError
		if !errors.As(err, &re) || re.Msg != "nope" {
			t.Fatalf("call %d to fail: %v, want the RemoteError nope", i, err)
		}
	}

	// Five calls of a batch, the budget holds three: two are busy at once.
	type result struct {
		i   int
		err error
	}
	results := make(chan result, 5)
	calls := make([]Call, 5)
	for i := range calls {
		calls[i] = Call{Body: make([]byte, size), Done: func(_ []byte, err error) { results <- result{i, err} }}
	}
	ps := c.GoBatch("block", "cancel", nil, calls)
	busy := map[int]bool{}
	for range 2 {
		r := <-results
		if !errors.Is(r.err, ErrBusy) {
			t.Fatalf("call %d: %v, want ErrBusy", r.i, r.err)
		}
		busy[r.i] = true
	}
	waitFor(t, "three calls to run", func() bool { return srv.Used() == 3*(size+RequestOverhead) })
	stop := errors.New("stop")
	for i, p := range ps {
		if busy[i] {
			continue
		}
		p.Cancel(stop)
		if r := <-results; r.i != i || !errors.Is(r.err, stop) {
			t.Fatalf("cancelled call %d: call %d ended with %v", i, r.i, r.err)
		}
		waitFor(t, "the cancelled call's budget", func() bool { return srv.Used() < 3*(size+RequestOverhead) })
	}
	waitFor(t, "the budget to come back", func() bool { return srv.Used() == 0 })
}

// TestBatchNoResponders: every call of a batch nobody serves fails at once.
func TestBatchNoResponders(t *testing.T) {
	_, c := setup(t, 1<<20)
	_, errs, _ := goBatch(t, c, "nobody", nil, [][]byte{{1}, {2}, {3}})
	for i, err := range errs {
		if !errors.Is(err, ErrNoResponders) {
			t.Fatalf("call %d: %v, want ErrNoResponders", i, err)
		}
	}
}

// TestBatchAllStart: every call of a batch runs at once, though each
// handler blocks: a runner wakes the next before it runs a job.
func TestBatchAllStart(t *testing.T) {
	_, c, srv := setupLimits(t, Limits{MaxSize: 1 << 20, Budget: 1 << 30})
	const n = 40
	results := make(chan error, n)
	calls := make([]Call, n)
	for i := range calls {
		calls[i] = Call{Body: []byte{byte(i)}, Done: func(_ []byte, err error) { results <- err }}
	}
	ps := c.GoBatch("block", "cancel", nil, calls)
	waitFor(t, "every call of the batch to run", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.running) == n
	})
	for _, p := range ps {
		p.Cancel(context.Canceled)
	}
	for range n {
		if err := <-results; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled call: %v", err)
		}
	}
	waitFor(t, "every handler to see its cancellation", func() bool { return srv.Used() == 0 })
}

// batchFrame encodes a request batch of calls (id, body pairs).
func batchFrame(meta []byte, calls ...string) []byte {
	b := binary.AppendUvarint([]byte{flagBatch}, uint64(len(meta)))
	b = append(b, meta...)
	for i := 0; i < len(calls); i += 2 {
		b = binary.AppendUvarint(b, uint64(len(calls[i])))
		b = append(b, calls[i]...)
		b = binary.AppendUvarint(b, uint64(len(calls[i+1])))
		b = append(b, calls[i+1]...)
	}
	return b
}

// TestBatchHostile: a call cancelled before its batch came does not run;
// a malformed batch is answered with an error or dropped from where it
// goes wrong, and the Server keeps serving.
func TestBatchHostile(t *testing.T) {
	nc, c, srv := setupLimits(t, Limits{MaxSize: 1 << 10, Budget: 1 << 20})
	prefix := nats.NewInbox() + "."
	replies := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(prefix+"*", replies)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	reply := func(want string) *nats.Msg {
		t.Helper()
		select {
		case m := <-replies:
			if m.Subject != want {
				t.Fatalf("a reply on %s, want %s (%q)", m.Subject, want, m.Data)
			}
			return m
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply on %s", want)
			return nil
		}
	}
	publish := func(reply string, data []byte) {
		t.Helper()
		if err := nc.PublishRequest("echo", reply, data); err != nil {
			t.Fatal(err)
		}
	}

	// Call a is cancelled before its batch comes: only b is answered.
	if err := nc.Publish("cancel."+replyOwner(prefix+"a"), []byte(prefix+"a")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancellation's tombstone", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.parts[prefix+"a"] != nil
	})
	publish(prefix+"_a", batchFrame(nil, "a", "x", "b", "y"))
	if m := reply(prefix + "b"); string(m.Data) != "\x00y" {
		t.Fatalf("call b: %q", m.Data)
	}

	// A batch whose reply subject names no batch.
	publish(prefix+"c", batchFrame(nil, "c", "x"))
	if m := reply(prefix + "c"); m.Data[0]&flagError == 0 || !bytes.Contains(m.Data, []byte("names no batch")) {
		t.Fatalf("a batch with a call's reply subject: %q", m.Data)
	}
	// A bad id, and a body longer than the frame: what came before runs.
	publish(prefix+"_d", batchFrame(nil, "d", "1", "E.*", "2", "f", "3"))
	if m := reply(prefix + "d"); string(m.Data) != "\x001" {
		t.Fatalf("call d before a bad id: %q", m.Data)
	}
	publish(prefix+"_g", append(batchFrame(nil, "g", "4"), 1, 'h', 0xff, 0x7f))
	if m := reply(prefix + "g"); string(m.Data) != "\x004" {
		t.Fatalf("call g before a body past the frame: %q", m.Data)
	}
	// A call over the size limit is refused alone.
	publish(prefix+"_i", batchFrame(nil, "i", string(make([]byte, 2<<10)), "j", "5"))
	got := map[string]string{}
	for range 2 {
		select {
		case m := <-replies:
			got[m.Subject] = string(m.Data)
		case <-time.After(10 * time.Second):
			t.Fatal("no reply to the batch with a call over the limit")
		}
	}
	if r := got[prefix+"i"]; r == "" || r[0]&flagError == 0 || !bytes.Contains([]byte(r), []byte("exceeds the limit")) {
		t.Fatalf("the call over the limit: %q", r)
	}
	if r := got[prefix+"j"]; r != "\x005" {
		t.Fatalf("the call beside it: %q", r)
	}
	if out, err := c.Call(context.Background(), "echo", "", nil, []byte("still")); err != nil || string(out) != "still" {
		t.Fatalf("after hostile batches: %q, %v", out, err)
	}
	waitFor(t, "the budget to come back", func() bool { return srv.Used() == 0 })
}

// TestReplyBatches: replies held together go to each caller in one
// message, which its Client takes apart.
func TestReplyBatches(t *testing.T) {
	nc, c, srv := setupLimits(t, Limits{MaxSize: 1 << 20})
	var msgs atomic.Int64
	sub, err := nc.Subscribe(c.prefix+"*", func(*nats.Msg) { msgs.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 3)
	c.mu.Lock()
	ids := []string{"x1", "x2", "x3"}
	for i, id := range ids {
		c.calls[id] = &call{done: func(body []byte, err error) {
			if err != nil {
				got <- err.Error()
				return
			}
			got <- fmt.Sprintf("%d %s", i, body)
		}}
	}
	c.mu.Unlock()
	srv.hold(outReply{reply: c.prefix + "x1", body: []byte("one")},
		outReply{reply: c.prefix + "x2", flags: flagError | flagRetry | flagBusy, body: []byte("full")},
		outReply{reply: c.prefix + "x3", body: []byte("three")})
	srv.flushReplies()
	want := map[string]bool{"0 one": true, "full": true, "2 three": true}
	for range 3 {
		select {
		case g := <-got:
			if !want[g] {
				t.Fatalf("a reply %q, want one of %v", g, want)
			}
			delete(want, g)
		case <-time.After(10 * time.Second):
			t.Fatalf("replies missing: %v", want)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := msgs.Load(); n != 1 {
		t.Fatalf("3 replies in %d messages, want 1", n)
	}
}

// FuzzClientBatch: a batch of replies from the network never panics the
// Client, whatever it claims.
func FuzzClientBatch(f *testing.F) {
	ok := binary.AppendUvarint(nil, 1)
	ok = append(ok, 'a', 0)
	ok = binary.AppendUvarint(ok, 2)
	ok = append(ok, "hi"...)
	f.Add(ok)
	f.Add([]byte{1, 'a', 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x10, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []byte
		c := &Client{calls: map[string]*call{"a": {done: func(b []byte, _ error) { got = b }}}, batches: map[string]*batch{}, window: ReplyWindow, maxSize: 1 << 20}
		c.onBatch(data)
		if len(got) > len(data) {
			t.Fatalf("a reply of %d bytes from a batch of %d", len(got), len(data))
		}
	})
}
