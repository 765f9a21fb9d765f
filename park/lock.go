package park

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// lockDomain is the domain of a lock's waiters.
func lockDomain(name string) string { return "lock:" + name }

// Lock is a held lock.
type Lock struct {
	c      *Client
	domain string
	node   string
	token  uint64
	lost   <-chan struct{}
}

// Token is the lock's fencing token: the revision at which its holder
// asked for it. Every later holder's is greater, so a resource that
// remembers the greatest token it has seen can refuse a holder that lost
// the lock (paused past its lease) and does not know it yet.
func (l *Lock) Token() uint64 { return l.token }

// Done is closed when the lock is released or may be lost: Unlock, or
// its node deleted by another, or this client unable to renew it within
// its lease (it was paused, or cut off from the park).
func (l *Lock) Done() <-chan struct{} { return l.lost }

// Unlock releases the lock: the next waiter, in arrival order, holds it.
func (l *Lock) Unlock(ctx context.Context) error {
	err := l.c.Delete(ctx, l.domain, l.node)
	if errors.Is(err, ErrNotFound) {
		return nil // lost already
	}
	return err
}

// Lock waits until it holds the lock name (any string), or ctx ends. Its
// waiters hold it in the order they asked (fair). It is held as long as
// this client lives (its ephemeral node: see Options.Lease) or until
// Unlock.
func (c *Client) Lock(ctx context.Context, name string) (*Lock, error) {
	domain, node := lockDomain(name), uuid.NewString()
	k, err := key(domain, node)
	if err != nil {
		return nil, err
	}
	n, err := c.Create(ctx, domain, node, nil, Ephemeral())
	if err != nil {
		return nil, err
	}
	l := &Lock{c: c, domain: domain, node: node, token: n.Revision}
	// The node's content is its place in line: renewals (new revisions)
	// keep it.
	if _, err := c.Update(ctx, domain, node, binary.BigEndian.AppendUint64(nil, n.Revision)); err != nil {
		l.abandon()
		return nil, err
	}
	if l.lost = c.lostOf(k); l.lost == nil {
		return nil, fmt.Errorf("park: lock %s: lost as it was taken", name)
	}
	if err := l.wait(ctx); err != nil {
		l.abandon()
		return nil, err
	}
	return l, nil
}

// wait waits until the lock's node is first in line.
func (l *Lock) wait(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the watch
	ch, err := l.c.Watch(ctx, l.domain, "")
	if err != nil {
		return err
	}
	for {
		first, err := l.first(ctx)
		if err != nil {
			return err
		}
		if first {
			return nil
		}
		// Wait for one ahead to go (a deletion), then look again.
		for gone := false; !gone; {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-l.lost:
				return fmt.Errorf("park: lock %s: this client's place in line was lost", l.domain)
			case ev, ok := <-ch:
				if !ok {
					if err := ctx.Err(); err != nil {
						return err
					}
					return ErrClosed // the client was closed
				}
				gone = ev.Op == Delete
			}
		}
	}
}

// first reports whether the lock's node is first in line.
func (l *Lock) first(ctx context.Context) (bool, error) {
	nodes, err := l.c.List(ctx, l.domain)
	if err != nil {
		return false, err
	}
	if !slices.ContainsFunc(nodes, func(n *Node) bool { return n.Name == l.node }) {
		return false, fmt.Errorf("park: lock %s: this client's place in line is gone", l.domain)
	}
	for _, n := range nodes {
		if n.Name != l.node && place(n) < l.token {
			return false, nil
		}
	}
	return true, nil
}

// place is a waiter's place in line: the revision it asked at.
func place(n *Node) uint64 {
	if len(n.Value) == 8 {
		return binary.BigEndian.Uint64(n.Value)
	}
	return n.Revision // not yet written with its place: it is its first revision
}

// abandon deletes the lock's node after a failed wait.
func (l *Lock) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.c.Delete(ctx, l.domain, l.node)
}
