package park

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/streams"
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

	mu   sync.Mutex
	eph  map[string]*ephemeral // this client's ephemeral nodes, by key; nil once it is closed
	life context.Context       // ends when the client is closed
	stop context.CancelFunc
	done chan struct{}
}

// ephemeral is one of the client's ephemeral nodes.
type ephemeral struct {
	sent time.Time     // when its last write that succeeded was sent: it lives until sent + lease at least
	lost chan struct{} // closed when it is gone (or may be)
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

// Close deletes the client's ephemeral nodes and stops renewing them.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.eph == nil {
		c.mu.Unlock()
		return nil
	}
	keys := make([]string, 0, len(c.eph))
	for k, e := range c.eph {
		keys = append(keys, k)
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
		if err := c.kv.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
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
// there is), and returns it.
func (c *Client) Create(ctx context.Context, domain, name string, value []byte, opts ...WriteOption) (*Node, error) {
	o, k, err := c.prepare(domain, name, opts)
	if err != nil {
		return nil, err
	}
	var copts []jetstream.KVCreateOpt
	if o.ephemeral {
		copts = append(copts, jetstream.KeyTTL(c.lease))
	}
	// The KV's create writes over a delete marker too.
	rev, err := c.kv.Create(ctx, k, encodeValue(o.ephemeral, value), copts...)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("%w: %s/%s", ErrExists, domain, name)
	}
	if err != nil {
		return nil, fmt.Errorf("park: create %s/%s: %w", domain, name, err)
	}
	if o.ephemeral {
		c.own(k)
	}
	return &Node{Domain: domain, Name: name, Value: value, Revision: rev, Written: time.Now(), Ephemeral: o.ephemeral}, nil
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
		rev, err := c.put(ctx, k, cur.Ephemeral, value, &cur.Revision)
		if errors.Is(err, ErrChanged) && o.revision == nil {
			continue // written meanwhile: write on the latest
		}
		if err != nil {
			return nil, err
		}
		c.renewed(k)
		return &Node{Domain: domain, Name: name, Value: value, Revision: rev, Written: time.Now(), Ephemeral: cur.Ephemeral}, nil
	}
}

// put writes a value on a key: with the lease as its TTL if ephemeral,
// and only if the key's last revision is *last (if last is not nil).
func (c *Client) put(ctx context.Context, k string, eph bool, value []byte, last *uint64) (uint64, error) {
	popts := []jetstream.PublishOpt{}
	if eph {
		popts = append(popts, jetstream.WithMsgTTL(c.lease))
	}
	if last != nil {
		popts = append(popts, jetstream.WithExpectLastSequencePerSubject(*last))
	}
	ack, err := c.js.Publish(ctx, "$KV."+Bucket+"."+k, encodeValue(eph, value), popts...)
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

// List returns a domain's nodes, in the order of their keys. It asks the
// server which of the domain's keys it has, then reads each: a node
// written before List began is in it unless it was deleted since. (A KV
// watch's first values are not that: a node rewritten while they come
// is skipped until its new revision comes, after them.)
func (c *Client) List(ctx context.Context, domain string) ([]*Node, error) {
	prefix, err := key(domain, "")
	if err != nil {
		return nil, err
	}
	info, err := c.st.Info(ctx, jetstream.WithSubjectFilter("$KV."+Bucket+"."+prefix+"*"))
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
		n, err := c.get(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue // deleted (its marker is kept a while)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

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
	var kvOpts []jetstream.KVDeleteOpt
	if o.revision != nil {
		kvOpts = append(kvOpts, jetstream.LastRevision(*o.revision))
	}
	if err := c.kv.Delete(ctx, k, kvOpts...); err != nil {
		if streams.IsConflict(err) {
			return fmt.Errorf("%w: %s/%s", ErrChanged, domain, name)
		}
		return fmt.Errorf("park: delete %s/%s: %w", domain, name, err)
	}
	c.mu.Lock()
	if e, ok := c.eph[k]; ok {
		close(e.lost)
		delete(c.eph, k)
	}
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

// own records an ephemeral node this client created.
func (c *Client) own(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eph != nil {
		c.eph[k] = &ephemeral{sent: time.Now(), lost: make(chan struct{})}
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

// renewed notes a write of one of the client's ephemeral nodes.
func (c *Client) renewed(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.eph[k]; ok {
		e.sent = time.Now()
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
		for k, e := range c.eph {
			if time.Since(e.sent) >= c.lease {
				// Paused past the lease: the node may be gone and taken.
				close(e.lost)
				delete(c.eph, k)
				continue
			}
			keys = append(keys, k)
		}
		c.mu.Unlock()
		for _, k := range keys {
			c.renewOne(ctx, k)
		}
	}
}

func (c *Client) renewOne(ctx context.Context, k string) {
	wctx, cancel := context.WithTimeout(ctx, c.lease/3)
	defer cancel()
	sent := time.Now()
	cur, err := c.get(wctx, k)
	if err == nil && cur.Ephemeral {
		_, err = c.put(wctx, k, true, cur.Value, &cur.Revision)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.eph[k]
	if !ok {
		return
	}
	switch {
	case err == nil && cur.Ephemeral:
		e.sent = sent
	case errors.Is(err, ErrNotFound) || err == nil:
		close(e.lost) // deleted by another, or no longer ephemeral
		delete(c.eph, k)
	case errors.Is(err, ErrChanged):
		// Written meanwhile: it is renewed by that write.
	default:
		c.log.Warn("renew an ephemeral node (tried again in a third of the lease)", zap.String("key", k), zap.Error(err))
	}
}
