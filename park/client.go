package park

import (
	"cmp"
	"context"
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

	mu   sync.Mutex
	eph  map[string]*ephemeral // this client's ephemeral nodes, by key; nil once it is closed
	life context.Context       // ends when the client is closed
	stop context.CancelFunc
	done chan struct{}
}

// ephemeral is one of the client's ephemeral nodes.
type ephemeral struct {
	sent  time.Time     // when its last write that succeeded was sent: it lives until sent + lease at least
	lost  chan struct{} // closed when it is gone (or may be)
	timer *time.Timer   // closes lost at sent + lease
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
	rctx, stop := context.WithCancel(context.Background())
	c := &Client{js: js, kv: kv, st: st, lease: o.Lease, log: o.Logger, eph: map[string]*ephemeral{}, life: rctx, stop: stop, done: make(chan struct{})}
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
	marker    time.Duration // how long a deletion's marker is kept, if not deletedTTL
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
	if o.ephemeral {
		c.own(k, sent)
	}
	return &Node{Domain: domain, Name: name, Value: value, Revision: rev, Written: sent, Ephemeral: o.ephemeral}, nil
}

// Update writes a node's value (it keeps being ephemeral or not), and
// returns it.
func (c *Client) Update(ctx context.Context, domain, name string, value []byte, opts ...WriteOption) (*Node, error) {
	o, k, err := c.prepare(domain, name, opts)
	if err != nil {
		return nil, err
	}
	for {
		cur, err := c.get(ctx, k)
		if err != nil {
			return nil, err
		}
		if o.revision != nil && cur.Revision != *o.revision {
			return nil, fmt.Errorf("%w: %s/%s is at %d", ErrChanged, domain, name, cur.Revision)
		}
		sent := time.Now()
		rev, err := c.put(ctx, k, cur.Ephemeral, value, &cur.Revision)
		if errors.Is(err, ErrChanged) && o.revision == nil {
			continue // written meanwhile: write on the latest
		}
		if err != nil {
			return nil, err
		}
		if cur.Ephemeral {
			c.renewed(k, sent)
		}
		return &Node{Domain: domain, Name: name, Value: value, Revision: rev, Written: sent, Ephemeral: cur.Ephemeral}, nil
	}
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
// last): the KV's create, but through put.
func (c *Client) create(ctx context.Context, k string, eph bool, value []byte) (uint64, error) {
	var last uint64
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
	nc := c.js.Conn()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, false, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	req, err := json.Marshal(map[string]any{"multi_last": []string{filter}})
	if err != nil {
		return nil, false, err
	}
	if err := nc.PublishRequest("$JS.API.DIRECT.GET.KV_"+Bucket, inbox, req); err != nil {
		return nil, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	var out []*Node
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, false, err
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
	marker := deletedTTL
	if o.marker > 0 {
		marker = o.marker
	}
	kvOpts := []jetstream.KVDeleteOpt{jetstream.PurgeTTL(marker)}
	if o.revision != nil {
		kvOpts = append(kvOpts, jetstream.LastRevision(*o.revision))
	}
	if err := c.kv.Purge(ctx, k, kvOpts...); err != nil {
		if streams.IsConflict(err) {
			return fmt.Errorf("%w: %s/%s", ErrChanged, domain, name)
		}
		return fmt.Errorf("park: delete %s/%s: %w", domain, name, err)
	}
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

// own records an ephemeral node this client created, its write sent at
// sent.
func (c *Client) own(k string, sent time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eph == nil {
		return
	}
	e := &ephemeral{sent: sent, lost: make(chan struct{})}
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

// owns reports whether one of the client's ephemeral nodes is kept.
func (c *Client) owns(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.eph[k]
	return ok
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
		return // gone, or written a moment ago (a lock's node, before its place is)
	}
	wctx, cancel := context.WithTimeout(ctx, c.lease/3)
	defer cancel()
	sent := time.Now()
	cur, err := c.get(wctx, k)
	if !c.owns(k) {
		return // given up meanwhile (its lease ran out): not written again
	}
	if err == nil && cur.Ephemeral {
		_, err = c.put(wctx, k, true, cur.Value, &cur.Revision)
	}
	switch {
	case err == nil && cur.Ephemeral:
		c.renewed(k, sent)
	case errors.Is(err, ErrNotFound) || err == nil:
		c.mu.Lock()
		c.dropLocked(k) // deleted by another, or no longer ephemeral
		c.mu.Unlock()
	case errors.Is(err, ErrChanged):
		// Written meanwhile: it is renewed by that write.
	default:
		c.log.Warn("renew an ephemeral node (tried again in a third of the lease)", zap.String("key", k), zap.Error(err))
	}
}
