package wire

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// Batches. A Client with several small requests for one subject at once
// (GoBatch) sends them in one message, and a Server answers small replies
// that finish together in one message, so that a pipeline of small calls
// pays the transport's per-message cost once per batch, not per call. A
// call in a batch is still a call of its own: it has its own reply
// subject (its Client's prefix and its id), by which it is cancelled, its
// own share of the Server's budget, and its own reply or error.
//
// Request batch (flags has flagBatch; never chunked): uvarint meta length
// and meta, shared by its calls, then for each call a uvarint id length,
// the id (a token of at most maxIDLen letters and digits), a uvarint body
// length and the body. Its reply subject is the Client's prefix, "_" and
// the first call's id: the prefix is where the calls' replies go, and a
// no-responders status for the message names the batch.
//
// Reply batch (sent to the Client's prefix and "_"): for each reply a
// uvarint id length, the id, the reply's flags byte (flagError, flagRetry,
// flagBusy; never flagMore), a uvarint body length and the body.
const (
	// coalesceMax is the largest request or reply that goes in a batch; a
	// bigger one goes on its own, where flow control covers it.
	coalesceMax = 16 << 10
	// batchMax bounds the bytes of one batch message.
	batchMax = 128 << 10
	// maxIDLen bounds a call id (a uint64 in base 36 has 13 digits).
	maxIDLen = 16
	// batchToken is the last token of the subject batches of replies go to.
	batchToken = "_"
)

// validID reports whether id can be a call id: a non-empty token of
// letters and digits.
func validID(id []byte) bool {
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for _, b := range id {
		if !('0' <= b && b <= '9' || 'a' <= b && b <= 'z') {
			return false
		}
	}
	return true
}

// next reads a uvarint-length-prefixed field from data.
func next(data []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(len(data)-k) {
		return nil, nil, false
	}
	return data[k : k+int(n)], data[k+int(n):], true
}

// onBatch takes a batch of requests: each call is checked against the
// limits and the budget on its own, and runs, or is refused, on its own.
func (s *Server) onBatch(reply string, data []byte, h Handler) {
	dot := strings.LastIndexByte(reply, '.')
	if dot < 0 || !strings.HasPrefix(reply[dot+1:], batchToken) {
		s.replyErrorFlags(reply, "wire: malformed request batch: its reply subject names no batch", 0)
		return
	}
	prefix := reply[:dot+1]
	meta, data, ok := next(data)
	if !ok || len(data) == 0 {
		s.replyErrorFlags(reply, "wire: malformed request batch", 0)
		return
	}
	now := time.Now()
	var refused []outReply
	s.mu.Lock()
	for len(data) > 0 {
		var id, body []byte
		id, data, ok = next(data)
		if ok {
			body, data, ok = next(data)
		}
		if !ok || !validID(id) {
			// What came before stands; the rest cannot be told apart. Its
			// callers wait until they time out: a Client never sends this.
			s.mu.Unlock()
			s.log.Warn("dropped the rest of a malformed request batch", zap.String("reply", reply))
			s.refuse(refused)
			return
		}
		call := prefix + string(id)
		if a := s.parts[call]; a != nil {
			// Cancelled before it came: its tombstone drops it.
			if a.refused {
				delete(s.parts, call)
			}
			continue
		}
		a, no := s.admitLocked(len(meta), len(body), now)
		if no != nil {
			refused = append(refused, outReply{reply: call, flags: flagError | no.flags, body: []byte(no.msg)})
			continue
		}
		a.meta, a.body = meta, body
		s.startLocked(call, a, h, true)
	}
	s.mu.Unlock()
	s.refuse(refused)
}

// refuse sends the refusals of calls of a batch.
func (s *Server) refuse(refused []outReply) {
	if len(refused) > 0 {
		s.hold(refused...)
		s.flushReplies()
	}
}

// outReply is a reply waiting to go in a batch.
type outReply struct {
	reply string
	flags byte
	body  []byte
}

// hold queues a small reply to a Client that takes batches. Replies
// wait while the runner that made them has more jobs queued, and go, in
// batches per caller, when a runner runs out of jobs (a lone reply goes at
// once), when they fill a batch, or replyHold after the first: a reply is
// never held up long by a slow job queued behind it.
func (s *Server) hold(rs ...outReply) {
	s.rmu.Lock()
	first := len(s.rq) == 0
	s.rq = append(s.rq, rs...)
	for _, r := range rs {
		s.held += len(r.body) + len(r.reply)
	}
	full := s.held >= batchMax || len(s.rq) >= maxHeld
	if first && !full {
		s.holdTimer.Reset(replyHold)
	}
	s.rmu.Unlock()
	if full {
		s.flushReplies()
	}
}

// Bounds of the replies held (see hold).
const (
	replyHold = 200 * time.Microsecond
	maxHeld   = 256
)

// flushReplies publishes the replies held.
func (s *Server) flushReplies() {
	s.rmu.Lock()
	q := s.rq
	s.rq, s.held = nil, 0
	if len(q) > 0 {
		s.holdTimer.Stop()
	}
	s.rmu.Unlock()
	if len(q) > 0 {
		s.publishReplies(q)
	}
}

func (s *Server) publishReply(r outReply) {
	if err := publishChunks(s.nc, r.reply, "", r.flags, false, nil, nil, r.body, nil); err != nil {
		s.log.Warn("reply lost", zap.String("reply", r.reply), zap.Error(err))
	}
}

// publishReplies publishes q, the replies of each caller in as few
// messages as fit batchMax.
func (s *Server) publishReplies(q []outReply) {
	if len(q) == 1 {
		s.publishReply(q[0])
		return
	}
	size := 0
	for _, r := range q {
		size += len(r.reply) + len(r.body) + 2*binary.MaxVarintLen64 + 1
	}
	buf := make([]byte, 0, 1+min(size, batchMax+coalesceMax+maxIDLen+2*binary.MaxVarintLen64+1))
	for len(q) > 0 {
		prefix := q[0].reply[:strings.LastIndexByte(q[0].reply, '.')+1]
		rest := q[:0:0]
		var group []outReply
		for _, r := range q {
			if strings.HasPrefix(r.reply, prefix) && strings.IndexByte(r.reply[len(prefix):], '.') < 0 {
				group = append(group, r)
			} else {
				rest = append(rest, r)
			}
		}
		q = rest
		if len(group) == 1 {
			s.publishReply(group[0])
			continue
		}
		buf = append(buf[:0], flagBatch)
		for i, r := range group {
			buf = binary.AppendUvarint(buf, uint64(len(r.reply)-len(prefix)))
			buf = append(buf, r.reply[len(prefix):]...)
			buf = append(buf, r.flags)
			buf = binary.AppendUvarint(buf, uint64(len(r.body)))
			buf = append(buf, r.body...)
			if len(buf) >= batchMax || i == len(group)-1 {
				if err := s.nc.Publish(prefix+batchToken, buf); err != nil {
					s.log.Warn("replies lost", zap.String("to", prefix+batchToken), zap.Error(err))
				}
				buf = append(buf[:0], flagBatch)
			}
		}
	}
}

// Call is one call of a GoBatch.
type Call struct {
	Body   []byte
	Header nats.Header                  // a trace context, if not nil: the call goes on its own
	Done   func(body []byte, err error) // as Go's done
}

// batch is a message of calls sent together, kept until its calls are
// over: a no-responders status for it fails those that are not.
type batch struct {
	ids  []string
	left int // of its calls not over
}

// GoBatch makes calls to subject as Go does, each with meta; small ones
// (up to 16 KiB) go together, as few messages as fit 128 KiB, the others
// (and those with a trace context) one by one. Each call is a call of its
// own: its done is called once, its Pending cancels it alone.
func (c *Client) GoBatch(subject, cancelSubject string, meta []byte, calls []Call) []Pending {
	ps := make([]Pending, len(calls))
	var small []int
	for i, cl := range calls {
		if len(cl.Body) > coalesceMax || len(calls) == 1 || cl.Header != nil {
			ps[i] = c.Go(subject, cancelSubject, cl.Header, meta, cl.Body, cl.Done)
		} else {
			small = append(small, i)
		}
	}
	if len(small) == 0 {
		return ps
	}
	// The messages: runs of small calls up to batchMax bytes each.
	type message struct{ from, to, size int } // calls small[from:to], at most size bytes
	var msgs []message
	biggest := 0
	for k, i := range small {
		n := len(calls[i].Body) + 2*binary.MaxVarintLen64 + maxIDLen
		if k == 0 || msgs[len(msgs)-1].size+n > batchMax {
			msgs = append(msgs, message{k, k, 1 + binary.MaxVarintLen64 + len(meta)})
		}
		m := &msgs[len(msgs)-1]
		m.to, m.size = k+1, m.size+n
		biggest = max(biggest, m.size)
	}
	ids := make([]string, len(small))
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		for _, i := range small {
			calls[i].Done(nil, ErrClosed)
			ps[i] = Pending{c: c}
		}
		return ps
	}
	for _, m := range msgs {
		var b *batch
		if m.to-m.from > 1 {
			b = &batch{ids: ids[m.from:m.to], left: m.to - m.from}
		}
		for k := m.from; k < m.to; k++ {
			c.next++
			ids[k] = strconv.FormatUint(c.next, 36)
			c.calls[ids[k]] = &call{done: calls[small[k]].Done, batch: b}
		}
		if b != nil {
			c.batches[ids[m.from]] = b
		}
	}
	c.mu.Unlock()
	buf := make([]byte, 0, biggest)
	for _, m := range msgs {
		if m.to-m.from == 1 {
			i, id := small[m.from], ids[m.from]
			if err := publishChunks(c.nc, subject, c.prefix+id, flagCoalesce, true, nil, meta, calls[i].Body, nil); err != nil {
				c.fail(id, fmt.Errorf("send to %s: %w", subject, err))
			}
			continue
		}
		buf = append(buf[:0], flagBatch)
		buf = binary.AppendUvarint(buf, uint64(len(meta)))
		buf = append(buf, meta...)
		for k := m.from; k < m.to; k++ {
			buf = binary.AppendUvarint(buf, uint64(len(ids[k])))
			buf = append(buf, ids[k]...)
			buf = binary.AppendUvarint(buf, uint64(len(calls[small[k]].Body)))
			buf = append(buf, calls[small[k]].Body...)
		}
		if err := c.nc.PublishRequest(subject, c.prefix+batchToken+ids[m.from], buf); err != nil {
			c.failBatch(ids[m.from], fmt.Errorf("send to %s: %w", subject, err))
		}
	}
	for k, i := range small {
		ps[i] = Pending{c: c, id: ids[k], cancelSubject: cancelSubject}
	}
	return ps
}

// failBatch fails the calls of batch key that are not over yet with err.
func (c *Client) failBatch(key string, err error) {
	c.mu.Lock()
	b := c.batches[key]
	delete(c.batches, key)
	var failed []*call
	if b != nil {
		for _, id := range b.ids {
			if cl := c.calls[id]; cl != nil {
				c.endLocked(id, cl)
				failed = append(failed, cl)
			}
		}
	}
	grants, gone := c.grantLocked()
	c.mu.Unlock()
	c.answer(grants, gone)
	for _, cl := range failed {
		cl.done(nil, err)
	}
}

// onBatch takes a batch of replies (see the top of this file); a
// malformed one is dropped from where it goes wrong, with its calls left
// to time out, as a reply that never came.
func (c *Client) onBatch(data []byte) {
	for len(data) > 0 {
		id, rest, ok := next(data)
		if !ok || len(rest) == 0 || !validID(id) {
			return
		}
		flags := rest[0]
		body, rest, ok := next(rest[1:])
		if !ok || flags&(flagMore|flagBatch) != 0 {
			return
		}
		data = rest
		c.take(string(id), flags, body)
	}
}
