package jobcenter

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// batcher sends the calls made while one batch is on its way together in
// the next (a group commit): an idle batcher sends a call at once, a busy
// one lets calls gather, so a batch is as big as the load makes it and a
// lone call waits for nobody. A batch of n calls costs the park and the
// client a few system calls instead of n round trips; on this project's
// machines those calls were most of a Work's cost (docs/performance.md).
type batcher[Req, Res any] struct {
	max int
	run func(calls []*call[Req, Res]) // fills in every call's res and err

	mu      sync.Mutex
	pending []*call[Req, Res]
	busy    bool // a goroutine sends batches until none is pending
}

type call[Req, Res any] struct {
	req  Req
	res  Res
	err  error
	done chan struct{}
}

// do adds req to the next batch and waits for its result, or for ctx.
func (b *batcher[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	c := &call[Req, Res]{req: req, done: make(chan struct{})}
	b.add(c)
	return c.wait(ctx)
}

// doAll adds reqs to the next batch together, in order, and waits for
// their results, or for ctx: errs[i] is reqs[i]'s.
func (b *batcher[Req, Res]) doAll(ctx context.Context, reqs ...Req) (errs []error) {
	calls := make([]*call[Req, Res], len(reqs))
	for i, r := range reqs {
		calls[i] = &call[Req, Res]{req: r, done: make(chan struct{})}
	}
	b.add(calls...)
	errs = make([]error, len(reqs))
	for i, c := range calls {
		_, errs[i] = c.wait(ctx)
	}
	return errs
}

// add queues calls for the next batch, starting the goroutine that sends
// batches if none runs.
func (b *batcher[Req, Res]) add(calls ...*call[Req, Res]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pending = append(b.pending, calls...)
	if !b.busy {
		b.busy = true
		go b.loop()
	}
}

func (c *call[Req, Res]) wait(ctx context.Context) (Res, error) {
	select {
	case <-c.done:
		return c.res, c.err
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err()
	}
}

func (b *batcher[Req, Res]) loop() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), max(b.max, 1))
		if n == 0 {
			b.busy = false
			b.pending = nil
			b.mu.Unlock()
			return
		}
		batch := make([]*call[Req, Res], n)
		copy(batch, b.pending)
		b.pending = b.pending[n:]
		b.mu.Unlock()
		b.run(batch)
		for _, c := range batch {
			close(c.done)
		}
	}
}

// batchMax is the most calls a batch holds: the server answers a direct
// get of at most 1,024 subjects.
const batchMax = 256

// batchTimeout bounds a batch's wait for the park's answers.
const batchTimeout = 10 * time.Second

// publish sends a batch of messages to JetStream at once and waits for
// each one's acknowledgement.
func (s *store) publish(calls []*call[*nats.Msg, *jetstream.PubAck]) {
	futures := make([]jetstream.PubAckFuture, len(calls))
	for i, c := range calls {
		futures[i], c.err = s.js.PublishMsgAsync(c.req)
	}
	timeout := time.NewTimer(batchTimeout)
	defer timeout.Stop()
	for i, c := range calls {
		if futures[i] == nil {
			continue
		}
		select {
		case c.res = <-futures[i].Ok():
		case c.err = <-futures[i].Err():
		case <-timeout.C:
			c.err = fmt.Errorf("no acknowledgement from the park within %s", batchTimeout)
			timeout.Reset(0) // the rest too
		}
	}
}

// put writes value under key in kv if the key's revision is rev (0: the
// key must not exist), with the calls of others at the same time, and
// returns the new revision. A write refused for its revision is a
// conflict (see streams.IsConflict).
func (s *store) put(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64) (uint64, error) {
	ack, err := s.pubs.do(ctx, putMsg(kv, key, value, rev))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// putMsg is the message that writes value under key in kv if the key's
// revision is rev.
func putMsg(kv jetstream.KeyValue, key string, value []byte, rev uint64) *nats.Msg {
	m := &nats.Msg{Subject: "$KV." + kv.Bucket() + "." + key, Header: nats.Header{}, Data: value}
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	return m
}

// record is a Work's record as read, with its revision and bucket.
type record struct {
	info *Info
	rev  uint64
	kv   jetstream.KeyValue
}

// read reads a batch of records with one direct get per bucket (a
// "multi_last" request: the last message of each subject). What the
// answer leaves out (a Work not in the bucket, or one beyond the answer's
// size) is read on its own.
func (s *store) read(calls []*call[string, record]) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	left := calls
	for _, kv := range []jetstream.KeyValue{s.works, s.mem} {
		if len(left) == 0 {
			return
		}
		found, err := s.multiGet(ctx, kv, left)
		if err != nil {
			break // each on its own, below
		}
		var rest []*call[string, record]
		for _, c := range left {
			if r, ok := found[c.req]; ok {
				c.res = r
			} else {
				rest = append(rest, c)
			}
		}
		left = rest
	}
	for _, c := range left {
		c.res.info, c.res.rev, c.res.kv, c.err = s.getOne(ctx, c.req)
	}
}

// multiGet reads the records of calls' IDs from kv in one request.
func (s *store) multiGet(ctx context.Context, kv jetstream.KeyValue, calls []*call[string, record]) (map[string]record, error) {
	prefix := "$KV." + kv.Bucket() + ".w."
	req := struct {
		MultiLast []string `json:"multi_last"`
	}{make([]string, len(calls))}
	for i, c := range calls {
		req.MultiLast[i] = prefix + c.req
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	// The answers come to the store's inbox: a subscription per batch cost
	// more than the batch (nats.go gives each a 64k-message buffer).
	answers := make(chan *nats.Msg, len(calls)+2) // at most one per subject, and the end
	inbox, err := s.answerTo(answers)
	if err != nil {
		return nil, err
	}
	defer s.answered(inbox)
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET.KV_"+kv.Bucket(), inbox, body); err != nil {
		return nil, err
	}
	found := make(map[string]record, len(calls))
	for {
		var m *nats.Msg
		select {
		case m = <-answers:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		switch m.Header.Get("Status") {
		case "":
		case "204": // the end
			return found, nil
		case "404": // none of them
			return found, nil
		default:
			return nil, fmt.Errorf("direct get: %s %s", m.Header.Get("Status"), m.Header.Get("Description"))
		}
		id, ok := strings.CutPrefix(m.Header.Get(jetstream.SubjectHeader), prefix)
		rev, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if !ok || err != nil || m.Header.Get("KV-Operation") != "" {
			continue // deleted: read on its own (to say so)
		}
		var info Info
		if err := json.Unmarshal(m.Data, &info); err != nil {
			continue // read on its own, for its error
		}
		found[id] = record{&info, rev, kv}
	}
}

// answerTo returns a subject whose messages go to ch, until answered.
func (s *store) answerTo(ch chan *nats.Msg) (string, error) {
	s.amu.Lock()
	defer s.amu.Unlock()
	if s.asub == nil {
		prefix := s.nc.NewInbox()
		sub, err := s.nc.Subscribe(prefix+".*", func(m *nats.Msg) {
			s.amu.Lock()
			ch := s.answers[m.Subject]
			s.amu.Unlock()
			select {
			case ch <- m:
			default: // not asked for, or more than asked for
			}
		})
		if err != nil {
			return "", err
		}
		s.asub, s.aprefix, s.answers = sub, prefix+".", map[string]chan *nats.Msg{}
	}
	s.aseq++
	inbox := s.aprefix + strconv.FormatUint(s.aseq, 36)
	s.answers[inbox] = ch
	return inbox, nil
}

func (s *store) answered(inbox string) {
	s.amu.Lock()
	delete(s.answers, inbox)
	s.amu.Unlock()
}

// close ends the store's subscription for answers.
func (s *store) close() {
	s.amu.Lock()
	defer s.amu.Unlock()
	if s.asub != nil {
		_ = s.asub.Unsubscribe()
		s.asub = nil
	}
}
