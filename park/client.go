package park

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/streams"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/security"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Options tune a Client.
type Options struct {
	// Lease is how long this client's ephemeral nodes outlive it (at
	// least a second); DefaultLease if 0.
	Lease time.Duration
	// Logger, if set, receives the client's warnings.
	Logger *zap.Logger
}

// Client reads and writes the park's nodes. Its ephemeral nodes go when
// it is closed, or within a lease when its process dies.
type Client struct {
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	st    jetstream.Stream // the bucket's
	lease time.Duration
	log   *zap.Logger

	nc  *nats.Conn        // closed by Close if the client dialed it
	who security.Identity // its credential's, if it dialed with one

	mu      sync.Mutex
	eph     map[string]*ephemeral // this client's ephemeral nodes, by key; nil once it is closed
	wrote   map[string]written    // the nodes this client wrote last, as it left them
	replies *replies              // of List's direct gets
	free    map[string][]string   // by domain, names of lock waiters' nodes this client deleted: used again
	life    context.Context       // ends when the client is closed
	stop    context.CancelFunc
	done    chan struct{}
}

// ephemeral is one of the client's ephemeral nodes.
type ephemeral struct {
	sent  time.Time     // when its last write that succeeded was sent: it lives until sent + lease at least
	lost  chan struct{} // closed when it is gone (or may be)
	timer *time.Timer   // closes lost at sent + lease
	place uint64        // a lock's waiter's place, written by its renewals; or zero
}

// written is a node as this client's last write of it left it: written,
// or deleted (purged set) leaving a marker at rev.
type written struct {
	rev    uint64
	eph    bool
	purged time.Time
}

// maxWritten bounds Client.wrote: past it, it starts again empty.
const maxWritten = 1024

// noteWrite records that this client wrote k as w (or, w.rev zero, that
// it does not know k's revision any more).
func (c *Client) noteWrite(k string, w written) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case w.rev == 0:
		delete(c.wrote, k)
	case len(c.wrote) >= maxWritten:
		c.wrote = map[string]written{k: w}
	default:
		c.wrote[k] = w
	}
}

// New returns a Client of the park that nc is connected to, waiting for
// the park's bucket until ctx ends.
func New(ctx context.Context, nc *nats.Conn, o Options) (*Client, error) {
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Lease < time.Second {
		return nil, fmt.Errorf("park: lease %v: at least a second", o.Lease)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("park: %w", err)
	}
	var kv jetstream.KeyValue
	for {
		if kv, err = js.KeyValue(ctx, Bucket); err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("park: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("park: the park server has no coordination bucket (%v): %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	st, err := js.Stream(ctx, "KV_"+Bucket)
	if err != nil {
		return nil, fmt.Errorf("park: %w", err)
	}
	rs, err := newReplies(nc)
	if err != nil {
		return nil, fmt.Errorf("park: %w", err)
	}
	rctx, stop := context.WithCancel(context.Background())
	c := &Client{replies: rs, js: js, kv: kv, st: st, lease: o.Lease, log: o.Logger, eph: map[string]*ephemeral{}, wrote: map[string]written{}, free: map[string][]string{}, life: rctx, stop: stop, done: make(chan struct{})}
	go func() { defer close(c.done); c.renew(rctx) }()
	return c, nil
}

// Dial connects to the park at url (several, comma-separated, for a
// cluster), with sec's credentials, and returns a Client of it that owns
// the connection: Close closes it. The connection is retried for ever
// when it drops (a park restart).
func Dial(ctx context.Context, url string, sec security.Config, o Options) (*Client, error) {
	var who security.Identity
	if sec.Creds != "" {
		var err error
		if who, err = security.ReadIdentity(sec.Creds); err != nil {
			return nil, fmt.Errorf("park: %w", err)
		}
	}
	member := who.Name // its replies come to its own inboxes
	nc, err := wire.Connect(url, wire.ConnOptions{Security: sec, Name: "park client", Member: member})
	if err != nil {
		return nil, fmt.Errorf("park: %w", err)
	}
	c, err := New(ctx, nc, o)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c.nc, c.who = nc, who
	return c, nil
}

// Close deletes the client's ephemeral nodes and stops renewing them (and
// closes the connection, if Dial made it).
func (c *Client) Close() error {
	if c.nc != nil {
		defer c.nc.Close()
	}
	c.mu.Lock()
	if c.eph == nil {
		c.mu.Unlock()
		return nil
	}
	keys := make([]string, 0, len(c.eph))
	for k, e := range c.eph {
		keys = append(keys, k)
		e.timer.Stop()
		close(e.lost)
	}
	c.eph = nil
	c.mu.Unlock()
	c.stop()
	<-c.done
	_ = c.replies.sub.Unsubscribe()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, k := range keys {
		if err := c.kv.Purge(ctx, k, jetstream.PurgeTTL(deletedTTL)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WriteOption qualifies a write.
type WriteOption func(*writeOpts)

type writeOpts struct {
	ephemeral bool
	revision  *uint64
	place     bool // a lock's waiter: its renewals write its place (see place)
}

// Ephemeral makes Create's node go with this client: when it is closed,
// or within its lease after its process dies.
func Ephemeral() WriteOption { return func(o *writeOpts) { o.ephemeral = true } }

// IfRevision makes Update or Delete happen only if the node's revision is
// still rev (ErrChanged if not).
func IfRevision(rev uint64) WriteOption { return func(o *writeOpts) { o.revision = &rev } }

func writeOptions(opts []WriteOption) writeOpts {
	var o writeOpts
	for _, f := range opts {
		f(&o)
	}
	return o
}

// prepare checks a write's names and that the client is open, and returns
// the write's options and key.
func (c *Client) prepare(domain, name string, opts []WriteOption) (writeOpts, string, error) {
	k, err := key(domain, name)
	if err != nil {
		return writeOpts{}, "", err
	}
	return writeOptions(opts), k, c.open()
}

// Create creates a node if there is none under that name (ErrExists if
// there is), and returns it. A node created without a name (Fourinone's
// anonymous node) is given a new one, later nodes' greater (a time-ordered
// UUID): List returns them in the order they were made.
func (c *Client) Create(ctx context.Context, domain, name string, value []byte, opts ...WriteOption) (*Node, error) {
	if name == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("park: create %s: %w", domain, err)
		}
		name = id.String()
	}
	o, k, err := c.prepare(domain, name, opts)
	if err != nil {
		return nil, err
	}
	sent := time.Now()
	rev, err := c.create(ctx, k, o.ephemeral, value)
	if errors.Is(err, ErrExists) {
		return nil, fmt.Errorf("%w: %s/%s", ErrExists, domain, name)
	}
	if err != nil {
		return nil, fmt.Errorf("park: create %s/%s: %w", domain, name, err)
	}
	c.noteWrite(k, written{rev: rev, eph: o.ephemeral})
	if o.ephemeral {
		var place uint64
		if o.place {
			place = rev
		}
		c.own(k, sent, place)
	}
	return &Node{Domain: domain, Name: name, Value: value, Revision: rev, Written: sent, Ephemeral: o.ephemeral}, nil
}

// Update writes a node's value (it keeps being ephemeral or not), and
// returns it. A node this client wrote last is written in one request, on
// the revision it left it at (read first only if it changed since).
func (c *Client) Update(ctx context.Context, domain, name string, value []byte, opts ...WriteOption) (*Node, error) {
	o, k, err := c.prepare(domain, name, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	w, ok := c.wrote[k]
	c.mu.Unlock()
	if ok && w.purged.IsZero() && (o.revision == nil || *o.revision == w.rev) {
		if n, err := c.update(ctx, domain, name, k, w, value); !errors.Is(err, ErrChanged) {
			return n, err
		}
	}
	for {
		cur, err := c.get(ctx, k)
		if err != nil {
			return nil, err
		}
		if o.revision != nil && cur.Revision != *o.revision {
			return nil, fmt.Errorf("%w: %s/%s is at %d", ErrChanged, domain, name, cur.Revision)
		}
		n, err := c.update(ctx, domain, name, k, written{rev: cur.Revision, eph: cur.Ephemeral}, value)
		if errors.Is(err, ErrChanged) && o.revision == nil {
			continue // written meanwhile: write on the latest
		}
		return n, err
	}
}

// update writes k's value if it is still as was.
func (c *Client) update(ctx context.Context, domain, name, k string, was written, value []byte) (*Node, error) {
	sent := time.Now()
	rev, err := c.put(ctx, k, was.eph, value, &was.rev)
	if err != nil {
		return nil, err
	}
	c.noteWrite(k, written{rev: rev, eph: was.eph})
	if was.eph {
		c.renewed(k, sent)
	}
	return &Node{Domain: domain, Name: name, Value: value, Revision: rev, Written: sent, Ephemeral: was.eph}, nil
}

// deletedTTL is how long the marker of a deleted node is kept (for
// watchers to see it go, or to resume after); then the node leaves no
// trace. Kept for ever, markers made List slower with every lock ever
// taken (List reads each key the server has, and each waiter's node is
// new): 24 ms for an uncontended Lock and Unlock after 200 of them. A
// lock's waiters keep theirs a second (see Lock.wait).
const deletedTTL = time.Minute

// ErrPermission is returned for a write the client's credential does not
// allow (see security.ParkWrites): the server would refuse it.
var ErrPermission = errors.New("park: the credential may not write this domain")

// mayWrite checks a write of key k against the client's credential, if
// it dialed with one: the server drops a refused write without a reply,
// and the writer would wait for one until its context ended.
func (c *Client) mayWrite(k string) error {
	if c.who.MayPublish("$KV." + Bucket + "." + k) {
		return nil
	}
	d, _, _ := parseKey(k)
	return fmt.Errorf("%w: %q (its credential is %s's)", ErrPermission, d, c.who.Name)
}

// ttl is the TTL an ephemeral node is written with: the lease rounded up
// to a second, as the server keeps TTLs in whole seconds (cut down, a
// 1.5 s lease let the server drop a node while its client still held it).
func (c *Client) ttl() time.Duration {
	return (c.lease + time.Second - 1).Truncate(time.Second)
}

// create writes a key that has no value (none, or a deletion's marker
// last): the KV's create, but through put. Over the marker of this
// client's own deletion, still kept, it writes at once; otherwise it
// first tries a key that never was, then reads what is there.
func (c *Client) create(ctx context.Context, k string, eph bool, value []byte) (uint64, error) {
	var last uint64
	c.mu.Lock()
	if w, ok := c.wrote[k]; ok && !w.purged.IsZero() && time.Since(w.purged) < ownMarkerTTL {
		last = w.rev
	}
	c.mu.Unlock()
	for range 10 {
		rev, err := c.put(ctx, k, eph, value, &last)
		if !errors.Is(err, ErrChanged) {
			return rev, err
		}
		m, err := c.st.GetLastMsgForSubject(ctx, "$KV."+Bucket+"."+k)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			last = 0 // its marker went meanwhile
		case err != nil:
			return 0, err
		case m.Header.Get(kvOperation) == "" && m.Header.Get(jetstream.MarkerReasonHeader) == "":
			return 0, ErrExists
		default:
			last = m.Sequence // written over the marker
		}
	}
	return 0, errors.New("the key kept changing")
}

// kvOperation is the header of a KV's deletion markers.
const kvOperation = "KV-Operation"

// put writes a value on a key, only if the key's last revision is *last
// (if last is not nil). An ephemeral node is written with the lease as
// its TTL, and rolls up its older revisions (see history).
func (c *Client) put(ctx context.Context, k string, eph bool, value []byte, last *uint64) (uint64, error) {
	if err := c.mayWrite(k); err != nil {
		return 0, err
	}
	var popts []jetstream.PublishOpt
	m := nats.NewMsg("$KV." + Bucket + "." + k)
	m.Data = encodeValue(eph, value)
	if eph {
		popts = append(popts, jetstream.WithMsgTTL(c.ttl()))
		m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	}
	if last != nil {
		popts = append(popts, jetstream.WithExpectLastSequencePerSubject(*last))
	}
	ack, err := c.js.PublishMsg(ctx, m, popts...)
	if streams.IsConflict(err) {
		return 0, fmt.Errorf("%w: %s", ErrChanged, k)
	}
	if err != nil {
		return 0, fmt.Errorf("park: write %s: %w", k, err)
	}
	return ack.Sequence, nil
}

// Get reads a node (ErrNotFound if there is none).
func (c *Client) Get(ctx context.Context, domain, name string) (*Node, error) {
	k, err := key(domain, name)
	if err != nil {
		return nil, err
	}
	return c.get(ctx, k)
}

func (c *Client) get(ctx context.Context, k string) (*Node, error) {
	e, err := c.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		d, n, _ := parseKey(k)
		return nil, fmt.Errorf("%w: %s/%s", ErrNotFound, d, n)
	}
	if err != nil {
		return nil, fmt.Errorf("park: read %s: %w", k, err)
	}
	return nodeOf(k, e.Value(), e.Revision(), e.Created())
}

// List returns a domain's nodes, in the order of their keys: the latest
// revision of each as the server has them at one point in time (one
// request, answered with the last message of each of the domain's keys).
// A cluster, whose reads go to each stream's leader, has no such request:
// there List asks which of the domain's keys the leader has and reads
// each. (A KV watch's first values are not a point in time: a node
// rewritten while they come is skipped until its new revision comes,
// after them, and a lock built on that gave two waiters the lock.)
func (c *Client) List(ctx context.Context, domain string) ([]*Node, error) {
	prefix, err := key(domain, "")
	if err != nil {
		return nil, err
	}
	filter := "$KV." + Bucket + "." + prefix + "*"
	if c.st.CachedInfo().Config.AllowDirect {
		nodes, ok, err := c.lastOf(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("park: list %s: %w", domain, err)
		}
		if ok {
			return nodes, nil
		}
	}
	info, err := c.st.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, fmt.Errorf("park: list %s: %w", domain, err)
	}
	keys := make([]string, 0, len(info.State.Subjects))
	for subj := range info.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, "$KV."+Bucket+"."))
	}
	slices.Sort(keys)
	var out []*Node
	for _, k := range keys {
		m, err := c.st.GetLastMsgForSubject(ctx, "$KV."+Bucket+"."+k)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // its marker went meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("park: read %s: %w", k, err)
		}
		n, err := c.live(ctx, k, m.Header, m.Data, m.Sequence, m.Time)
		if err != nil {
			return nil, err
		}
		if n != nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// staleAfter is how long past its TTL a List takes an ephemeral node the
// server has not removed for gone (and deletes it): the most the clocks
// of the park and its clients may differ. A cluster's stream leader that
// took over from a failed one (nats-server 2.15.2) never removed the
// expired messages the failed one had stored: a lock's waiters waited
// for ever for a holder killed with its server.
const staleAfter = time.Second

// live decodes a key's last message for List: nil if it is a deletion's
// marker, or an ephemeral node whose TTL ran out more than staleAfter ago
// (deleted then, unless it was written again meanwhile).
func (c *Client) live(ctx context.Context, k string, h nats.Header, data []byte, rev uint64, written time.Time) (*Node, error) {
	if h.Get(kvOperation) != "" || h.Get(jetstream.MarkerReasonHeader) != "" {
		return nil, nil
	}
	if ttl := h.Get(jetstream.MsgTTLHeader); ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil {
			var secs int64
			secs, err = strconv.ParseInt(ttl, 10, 64)
			d = time.Duration(secs) * time.Second
		}
		if err == nil && d > 0 && time.Since(written) > d+staleAfter {
			err := c.kv.Purge(ctx, k, jetstream.LastRevision(rev), jetstream.PurgeTTL(time.Second))
			if err == nil || !streams.IsConflict(err) {
				return nil, nil // gone (or going: its owner cannot write it again on rev)
			}
			// Written again meanwhile: alive. It is listed as it was.
		}
	}
	return nodeOf(k, data, rev, written)
}

// lastOf reads the last message of each key matching filter with one
// direct get, in key order, skipping deletions' markers. It reports false
// if the server gave only part of them (too many, or too big).
func (c *Client) lastOf(ctx context.Context, filter string) ([]*Node, bool, error) {
	req, err := json.Marshal(map[string]any{"multi_last": []string{filter}})
	if err != nil {
		return nil, false, err
	}
	parts, done, err := c.replies.request(c.js.Conn(), "$JS.API.DIRECT.GET.KV_"+Bucket, req)
	if err != nil {
		return nil, false, err
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	var out []*Node
	for {
		var m *nats.Msg
		select {
		case m = <-parts:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		switch m.Header.Get("Status") {
		case "":
		case "404": // no key
			return nil, true, nil
		case "204": // the end
			whole := m.Header.Get("Nats-Num-Pending") == "0"
			slices.SortFunc(out, func(a, b *Node) int {
				return cmp.Or(strings.Compare(a.Domain, b.Domain), strings.Compare(a.Name, b.Name))
			})
			return out, whole, nil
		default: // too many, or no direct gets: read them one by one
			return nil, false, nil
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("malformed direct get reply: %w", err)
		}
		ts, _ := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
		n, err := c.live(ctx, strings.TrimPrefix(m.Header.Get("Nats-Subject"), "$KV."+Bucket+"."), m.Header, m.Data, seq, ts)
		if err != nil {
			return nil, false, err
		}
		if n != nil {
			out = append(out, n)
		}
	}
}

// replies takes replies in several parts (a direct get's of many keys) on
// one subscription, made once: a subscription made for each such request
// made its first part wait 0.4-3 ms, where a reply to a subscription
// already there comes in 0.1.
type replies struct {
	sub    *nats.Subscription
	prefix string // the subscription's subject, without its last token
	mu     sync.Mutex
	next   uint64
	calls  map[string]chan *nats.Msg // by the last token of their reply subject
}

// maxParts is the most parts of a reply: the server's most messages of a
// multi-key direct get, and its end.
const maxParts = 1024 + 1

func newReplies(nc *nats.Conn) (*replies, error) {
	r := &replies{prefix: nc.NewInbox() + ".", calls: map[string]chan *nats.Msg{}}
	sub, err := nc.Subscribe(r.prefix+"*", func(m *nats.Msg) {
		r.mu.Lock()
		ch := r.calls[strings.TrimPrefix(m.Subject, r.prefix)]
		r.mu.Unlock()
		select {
		case ch <- m: // a nil ch (a request given up) blocks: dropped
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	r.sub = sub
	return r, nil
}

// request sends data to subject and returns the channel of its reply's
// parts, and the func to call when done with them.
func (r *replies) request(nc *nats.Conn, subject string, data []byte) (<-chan *nats.Msg, func(), error) {
	ch := make(chan *nats.Msg, maxParts)
	r.mu.Lock()
	r.next++
	token := strconv.FormatUint(r.next, 36)
	r.calls[token] = ch
	r.mu.Unlock()
	done := func() {
		r.mu.Lock()
		delete(r.calls, token)
		r.mu.Unlock()
	}
	if err := nc.PublishRequest(subject, r.prefix+token, data); err != nil {
		done()
		return nil, nil, err
	}
	return ch, done, nil
}

// readTimeout bounds a read that the server answers in parts.
const readTimeout = 5 * time.Second

// Delete deletes a node (ErrNotFound if there is none).
func (c *Client) Delete(ctx context.Context, domain, name string, opts ...WriteOption) error {
	o := writeOptions(opts)
	k, err := key(domain, name)
	if err != nil {
		return err
	}
	cur, err := c.get(ctx, k)
	if err != nil {
		return err
	}
	if o.revision != nil && cur.Revision != *o.revision {
		return fmt.Errorf("%w: %s/%s is at %d", ErrChanged, domain, name, cur.Revision)
	}
	if err := c.mayWrite(k); err != nil {
		return err
	}
	kvOpts := []jetstream.KVDeleteOpt{jetstream.PurgeTTL(deletedTTL)}
	if o.revision != nil {
		kvOpts = append(kvOpts, jetstream.LastRevision(*o.revision))
	}
	if err := c.kv.Purge(ctx, k, kvOpts...); err != nil {
		if streams.IsConflict(err) {
			return fmt.Errorf("%w: %s/%s", ErrChanged, domain, name)
		}
		return fmt.Errorf("park: delete %s/%s: %w", domain, name, err)
	}
	c.noteWrite(k, written{})
	c.mu.Lock()
	c.dropLocked(k)
	c.mu.Unlock()
	return nil
}

func (c *Client) open() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eph == nil {
		return ErrClosed
	}
	return nil
}

// deleteOwn deletes one of the client's ephemeral nodes (a lock's waiter)
// without reading it first: its name is its own, there is nothing to
// compare. It is no longer renewed from then on, whether the park was
// told or not. Its marker is kept a second only (the least): waiters
// watch, and List reads every marker still kept.
func (c *Client) deleteOwn(ctx context.Context, k string) error {
	c.mu.Lock()
	closed := c.eph == nil
	c.dropLocked(k)
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := c.mayWrite(k); err != nil {
		return err
	}
	m := nats.NewMsg("$KV." + Bucket + "." + k)
	m.Header.Set(kvOperation, "PURGE")
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	sent := time.Now()
	ack, err := c.js.PublishMsg(ctx, m, jetstream.WithMsgTTL(ownMarkerTTL))
	if err != nil {
		c.noteWrite(k, written{})
		d, n, _ := parseKey(k)
		return fmt.Errorf("park: delete %s/%s: %w", d, n, err)
	}
	c.noteWrite(k, written{rev: ack.Sequence, purged: sent})
	return nil
}

// ownMarkerTTL is how long the marker of a node deleteOwn deleted is kept.
const ownMarkerTTL = time.Second

// own records an ephemeral node this client created, its write sent at
// sent; a lock's waiter's place (its first revision), or zero.
func (c *Client) own(k string, sent time.Time, place uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eph == nil {
		return
	}
	e := &ephemeral{sent: sent, lost: make(chan struct{}), place: place}
	e.timer = time.AfterFunc(time.Until(sent.Add(c.lease)), func() { c.expire(k, e) })
	c.eph[k] = e
}

// expire gives up an ephemeral node whose lease ran out unrenewed (the
// process was paused, or cut off from the park): it may be gone, and
// taken by another.
func (c *Client) expire(k string, e *ephemeral) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eph[k] != e {
		return
	}
	if d := time.Until(e.sent.Add(c.lease)); d > 0 {
		e.timer.Reset(d) // renewed meanwhile
		return
	}
	c.dropLocked(k)
}

// dropLocked forgets an ephemeral node and tells its holders; c.mu is
// held.
func (c *Client) dropLocked(k string) {
	if e, ok := c.eph[k]; ok {
		e.timer.Stop()
		close(e.lost)
		delete(c.eph, k)
	}
}

// lostOf returns the channel closed when one of the client's ephemeral
// nodes is gone, or nil if it is gone already.
func (c *Client) lostOf(k string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.eph[k]; ok {
		return e.lost
	}
	return nil
}

// valid reports whether one of the client's ephemeral nodes is surely
// still there: its last renewal was sent less than a lease ago (by the
// monotonic clock, which counts the time a process was stopped).
func (c *Client) valid(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.eph[k]
	return ok && time.Since(e.sent) < c.lease
}

// renewed notes a write of one of the client's ephemeral nodes, sent at
// sent.
func (c *Client) renewed(k string, sent time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.eph[k]; ok && sent.After(e.sent) {
		e.sent = sent
	}
}

// renew writes the client's ephemeral nodes again every third of the
// lease, with the content they have; a node gone (deleted, or expired
// while the client was paused) is given up.
func (c *Client) renew(ctx context.Context) {
	t := time.NewTicker(c.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		keys := make([]string, 0, len(c.eph))
		for k := range c.eph {
			keys = append(keys, k)
		}
		c.mu.Unlock()
		for _, k := range keys {
			c.renewOne(ctx, k)
		}
	}
}

func (c *Client) renewOne(ctx context.Context, k string) {
	c.mu.Lock()
	e, ok := c.eph[k]
	fresh := ok && time.Since(e.sent) < c.lease/6
	c.mu.Unlock()
	if !ok || fresh {
		return // gone, or written a moment ago
	}
	wctx, cancel := context.WithTimeout(ctx, c.lease/3)
	defer cancel()
	sent := time.Now()
	cur, err := c.get(wctx, k)
	c.mu.Lock()
	same := c.eph[k] == e
	c.mu.Unlock()
	if !same {
		// Given up meanwhile (its lease ran out, or deleted), or deleted
		// and made again (a lock's node, its name used again): not
		// written here.
		return
	}
	if err == nil && cur.Ephemeral {
		value := cur.Value
		if e.place != 0 && len(value) >= 8 {
			value = binary.BigEndian.AppendUint64(nil, e.place)
			value = append(value, cur.Value[8:]...)
		}
		var rev uint64
		if rev, err = c.put(wctx, k, true, value, &cur.Revision); err == nil {
			c.noteWrite(k, written{rev: rev, eph: true})
		}
	}
	switch {
	case err == nil && cur.Ephemeral:
		c.renewed(k, sent)
	case errors.Is(err, ErrNotFound) || err == nil:
		c.mu.Lock()
		if c.eph[k] == e {
			c.dropLocked(k) // deleted by another, or no longer ephemeral
		}
		c.mu.Unlock()
	case errors.Is(err, ErrChanged):
		// Written meanwhile: it is renewed by that write.
	default:
		c.log.Warn("renew an ephemeral node (tried again in a third of the lease)", zap.String("key", k), zap.Error(err))
	}
}
