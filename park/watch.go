package park

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Op is what happened to a node.
type Op int

// Ops.
const (
	Put    Op = iota // created or changed
	Delete           // deleted, or gone with its client's lease
)

func (o Op) String() string {
	if o == Delete {
		return "delete"
	}
	return "put"
}

// Event is a change of a node. For a Delete, Node has its names and the
// revision of the deletion, no value.
type Event struct {
	Op   Op
	Node *Node
}

// WatchOption qualifies a Watch.
type WatchOption func(*watchOpts)

type watchOpts struct {
	from   uint64
	resume bool // from from, not from now
}

// FromRevision makes a Watch report the changes after revision rev
// instead of those from now on: a watcher that stopped resumes with the
// last revision it saw. The bucket keeps a node's last 64 revisions (an
// ephemeral node's last one), so a node changed more often since rev is
// reported from its 64th last change on.
func FromRevision(rev uint64) WatchOption {
	return func(o *watchOpts) { o.from, o.resume = rev, true }
}

// Watch reports the changes of a domain's nodes (name "") or of one node,
// in order, until ctx ends or the client is closed (then the channel is
// closed). A write whose content equals the node's previous content (an
// ephemeral node's renewal) is not a change. Deleting a node drops its
// history: a watcher that had not read the node's last changes when it was
// deleted sees only the deletion.
func (c *Client) Watch(ctx context.Context, domain, name string, opts ...WatchOption) (<-chan Event, error) {
	var o watchOpts
	for _, f := range opts {
		f(&o)
	}
	k, err := key(domain, name)
	if err != nil {
		return nil, err
	}
	if name == "" {
		k += "*"
	}
	// The watch's own context, ended by the client's Close too: its
	// subscription ends with it.
	ctx, cancel := context.WithCancel(ctx)
	unlink := context.AfterFunc(c.life, cancel)
	// Told of reconnections before the watch starts: the server may have
	// restarted, and the watch is started again after the last revision
	// seen (the KV's own watch does not come back from a park restart).
	nc := c.js.Conn()
	reconnected := nc.StatusChanged(nats.CONNECTED)
	stop := func() {
		nc.RemoveStatusListener(reconnected)
		unlink()
		cancel()
	}
	seen := o.from // the last revision seen, or to resume after
	if !o.resume {
		// From now: resumed, if it must be, after the bucket's last
		// revision as it starts.
		info, err := c.st.Info(ctx)
		if err != nil {
			stop()
			return nil, fmt.Errorf("park: watch %s/%s: %w", domain, name, err)
		}
		seen = info.State.LastSeq
	}
	var wopts []jetstream.WatchOpt
	if o.resume {
		wopts = append(wopts, jetstream.ResumeFromRevision(o.from+1))
	}
	w, err := c.kv.Watch(ctx, k, wopts...)
	if err != nil {
		stop()
		return nil, fmt.Errorf("park: watch %s/%s: %w", domain, name, err)
	}
	out := make(chan Event)
	go func() {
		defer close(out)
		defer stop()
		defer func() { _ = w.Stop() }()
		last := map[string][]byte{} // each node's content as last seen (nil: deleted)
		current := !o.resume        // the current values come first: not changes
		// Until the watcher says its current values are over, it delivers
		// as current whatever it has pending, writes made after the watch
		// began included (the consumer reports pending messages, and new
		// writes keep them coming): only what was there as the watch began
		// is current, a later revision is a change.
		start := seen
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case <-reconnected:
				_ = w.Stop()
				if w = c.rewatch(ctx, k, seen); w == nil {
					return // ctx ended
				}
				current = false
				continue
			case e, ok = <-w.Updates():
			}
			if !ok {
				return
			}
			if e == nil {
				current = false
				continue
			}
			if e.Revision() <= seen && !current {
				continue // seen before the watch started again
			}
			seen = max(seen, e.Revision())
			ev, changed := event(e, last)
			if !changed || current && e.Revision() <= start {
				continue
			}
			select {
			case <-ctx.Done():
				return
			case out <- ev:
			}
		}
	}()
	return out, nil
}

// rewatch starts a watch of k again after revision seen, trying until ctx
// ends (nil then): the server may still be recovering its streams.
func (c *Client) rewatch(ctx context.Context, k string, seen uint64) jetstream.KeyWatcher {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		w, err := c.kv.Watch(ctx, k, jetstream.ResumeFromRevision(seen+1))
		if err == nil {
			return w
		}
		c.log.Warn("watch again after a reconnection", zap.String("key", k), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// event turns an entry into an Event, and reports whether it is a change
// from the node's content in last (which it updates).
func event(e jetstream.KeyValueEntry, last map[string][]byte) (Event, bool) {
	prev, seen := last[e.Key()]
	if e.Operation() != jetstream.KeyValuePut {
		last[e.Key()] = nil
		domain, name, err := parseKey(e.Key())
		if err != nil || seen && prev == nil {
			return Event{}, false // deleted already
		}
		return Event{Op: Delete, Node: &Node{Domain: domain, Name: name, Revision: e.Revision(), Written: e.Created()}}, true
	}
	last[e.Key()] = e.Value()
	if prev != nil && bytes.Equal(prev, e.Value()) { // a renewal, say
		return Event{}, false
	}
	n, err := nodeOf(e.Key(), e.Value(), e.Revision(), e.Created())
	if err != nil {
		return Event{}, false
	}
	return Event{Op: Put, Node: n}, true
}

// Config follows one node as a program's configuration: the channel gives
// the node's value first (nil if there is no such node), then each new
// value (nil when the node is deleted), until ctx ends or the client is
// closed. A reader that falls behind gets the latest value, not each one
// in between; a write of equal content is not a new value.
func (c *Client) Config(ctx context.Context, domain, name string) (<-chan []byte, error) {
	// The bucket's last revision before the read: the watch starts after
	// the later of it and the node's, so no write is missed or repeated.
	info, err := c.st.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("park: config %s/%s: %w", domain, name, err)
	}
	from := info.State.LastSeq
	var value []byte
	n, err := c.Get(ctx, domain, name)
	switch {
	case err == nil:
		value, from = n.Value, max(from, n.Revision)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	events, err := c.Watch(ctx, domain, name, FromRevision(from))
	if err != nil {
		return nil, err
	}
	out := make(chan []byte, 1)
	out <- value
	go func() {
		defer close(out)
		last := value
		for ev := range events {
			v := ev.Node.Value
			if ev.Op == Delete {
				v = nil
			}
			if v == nil && last == nil || v != nil && last != nil && bytes.Equal(v, last) {
				continue
			}
			last = v
			select { // only the latest matters
			case <-out:
			default:
			}
			out <- v
		}
	}()
	return out, nil
}
