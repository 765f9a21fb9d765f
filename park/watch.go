package park

import (
	"bytes"
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
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

type watchOpts struct{ from uint64 }

// FromRevision makes a Watch report the changes after revision rev
// instead of those from now on: a watcher that stopped resumes with the
// last revision it saw. The bucket keeps a node's latest revision only,
// so a node changed several times since rev is reported once, at its
// latest content.
func FromRevision(rev uint64) WatchOption { return func(o *watchOpts) { o.from = rev } }

// Watch reports the changes of a domain's nodes (name "") or of one node,
// in order, until ctx ends or the client is closed (then the channel is
// closed). A write whose content equals the node's previous content (an
// ephemeral node's renewal) is not a change.
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
	var wopts []jetstream.WatchOpt
	if o.from > 0 {
		wopts = append(wopts, jetstream.ResumeFromRevision(o.from+1))
	}
	// The watch's own context, ended by the client's Close too: its
	// subscription ends with it.
	ctx, cancel := context.WithCancel(ctx)
	unlink := context.AfterFunc(c.life, cancel)
	w, err := c.kv.Watch(ctx, k, wopts...)
	if err != nil {
		unlink()
		cancel()
		return nil, fmt.Errorf("park: watch %s/%s: %w", domain, name, err)
	}
	out := make(chan Event)
	go func() {
		defer close(out)
		defer unlink()
		defer cancel()
		defer w.Stop()
		last := map[string][]byte{} // each node's content as last seen (nil: deleted)
		current := o.from == 0      // the current values come first: not changes
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case e, ok = <-w.Updates():
			}
			if !ok {
				return
			}
			if e == nil {
				current = false
				continue
			}
			ev, changed := event(e, last)
			if !changed || current {
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
