package park

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// LockDomain is the domain of lock name's waiters (to grant a member
// writes to it: see DomainSubject); ElectDomain an election's candidates.
func LockDomain(name string) string   { return "lock:" + name }
func ElectDomain(group string) string { return "elect:" + group }

// Lock is a held lock.
type Lock struct {
	c      *Client
	domain string
	node   string
	key    string
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

// Valid reports whether the lock is surely still held: it was renewed
// less than a lease ago. It is exact the moment a paused process resumes
// (Done may be closed a moment later): check it just before acting as
// the holder, and give the resource the token as well.
func (l *Lock) Valid() bool { return l.c.valid(l.key) }

// Unlock releases the lock: the next waiter, in arrival order, holds it.
// If the park cannot be told now (it is restarting, or out of reach), the
// client stops renewing the lock all the same, so it ends with its lease;
// the error says so, and the lock is no longer this client's either way.
func (l *Lock) Unlock(ctx context.Context) error {
	err := l.c.deleteOwn(ctx, l.key)
	switch {
	case err == nil:
		l.c.freeName(l.domain, l.node)
		return nil // released, or lost already
	case errors.Is(err, ErrClosed):
		return err
	}
	l.c.mu.Lock()
	l.c.dropLocked(l.key)
	l.c.mu.Unlock()
	return fmt.Errorf("park: unlock %s: %w (no longer renewed: it ends within a lease, %v)", l.domain, err, l.c.lease)
}

// Lock waits until it holds the lock name (any string), or ctx ends. Its
// waiters hold it in the order they asked (fair). It is held as long as
// this client lives (its ephemeral node: see Options.Lease) or until
// Unlock.
func (c *Client) Lock(ctx context.Context, name string) (*Lock, error) {
	return c.acquire(ctx, LockDomain(name), nil)
}

// acquire joins the line of domain with an ephemeral node holding value,
// and waits until it is first. A failure on the way (the park failing
// over, this client's place lost while it was paused) makes it join the
// line again, at its end, until ctx ends.
func (c *Client) acquire(ctx context.Context, domain string, value []byte) (*Lock, error) {
	for {
		l, err := c.join(ctx, domain, value)
		if err == nil {
			if err = l.wait(ctx); err == nil {
				return l, nil
			}
			l.abandon()
		}
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrName) || errors.Is(err, ErrPermission) || ctx.Err() != nil {
			return nil, err
		}
		c.log.Warn("join the line again", zap.String("domain", domain), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.lease / 3):
		}
	}
}

// nodeName returns a name for a waiter's node in domain: one of this
// client's that it deleted, if any (its marker is written over at once,
// and a client leaves at most one marker a line however often it locks),
// or a new one.
func (c *Client) nodeName(domain string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if names := c.free[domain]; len(names) > 0 {
		c.free[domain] = names[:len(names)-1]
		return names[len(names)-1]
	}
	return uuid.NewString()
}

// freeName gives back the name of a waiter's node this client deleted.
func (c *Client) freeName(domain, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.free) >= maxWritten {
		clear(c.free)
	}
	c.free[domain] = append(c.free[domain], name)
}

// join puts an ephemeral node at the end of domain's line, in one write:
// its content is its place in line (zero, meaning its revision, until
// the client's first renewal writes the revision it was created at) and
// value.
func (c *Client) join(ctx context.Context, domain string, value []byte) (*Lock, error) {
	node := c.nodeName(domain)
	k, err := key(domain, node)
	if err != nil {
		return nil, err
	}
	n, err := c.Create(ctx, domain, node, append(make([]byte, 8, 8+len(value)), value...), Ephemeral(), atPlace())
	if err != nil {
		return nil, err
	}
	l := &Lock{c: c, domain: domain, node: node, key: k, token: n.Revision}
	if l.lost = c.lostOf(k); l.lost == nil {
		return nil, fmt.Errorf("park: %s: lost as it was taken", domain)
	}
	return l, nil
}

// wait waits until the lock's node is first in line: until every node
// ahead of it (asked earlier; none can come ahead later) has gone. It
// watches the domain for deletions (and for places written: a node too
// short to hold one, taken as ahead, may turn out behind), and lists it again
// every lease in case one went unseen (a watcher paused longer than a
// deletion's marker is kept).
func (l *Lock) wait(ctx context.Context) error {
	if ahead, err := l.ahead(ctx); err != nil || len(ahead) == 0 {
		return err // first (no watch needed), or gone
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the watch
	// Watched before listed again: a deletion after the list is seen.
	ch, err := l.c.Watch(ctx, l.domain, "")
	if err != nil {
		return err
	}
	ahead, err := l.ahead(ctx)
	if err != nil {
		return err
	}
	recheck := time.NewTicker(l.c.lease)
	defer recheck.Stop()
	for len(ahead) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.lost:
			return fmt.Errorf("park: %s: this client's place in line was lost", l.domain)
		case ev, ok := <-ch:
			if !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return ErrClosed // the client was closed
			}
			switch n := ev.Node; {
			case ev.Op == Delete:
				delete(ahead, n.Name)
			case len(n.Value) >= 8 && place(n) > l.token:
				delete(ahead, n.Name) // its place written: behind, after all
			}
		case <-recheck.C:
			if ahead, err = l.ahead(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// ahead returns the nodes ahead of the lock's in line, by name.
func (l *Lock) ahead(ctx context.Context) (map[string]bool, error) {
	nodes, err := l.c.List(ctx, l.domain)
	if err != nil {
		return nil, err
	}
	ahead := map[string]bool{}
	mine := false
	for _, n := range nodes {
		switch {
		case n.Name == l.node:
			mine = true
		case len(n.Value) < 8 || place(n) < l.token:
			// A node shorter than a place is not a waiter's: ahead, to
			// be safe, until it goes.
			ahead[n.Name] = true
		}
	}
	if !mine {
		return nil, fmt.Errorf("park: %s: this client's place in line is gone", l.domain)
	}
	return ahead, nil
}

// place is a waiter's place in line: the revision it was created at,
// written in its first 8 bytes by its first renewal; until then zero, and
// its revision is still its first.
func place(n *Node) uint64 {
	if len(n.Value) >= 8 {
		if p := binary.BigEndian.Uint64(n.Value); p != 0 {
			return p
		}
	}
	return n.Revision
}

// abandon deletes the lock's node after a failed wait.
func (l *Lock) abandon() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if l.c.deleteOwn(ctx, l.key) == nil {
		l.c.freeName(l.domain, l.node)
	}
}

// atPlace makes an ephemeral node's renewals write its place (see place).
func atPlace() WriteOption { return func(o *writeOpts) { o.place = true } }

// Leadership is a won election: its candidate leads until it resigns, or
// its client closes or cannot renew within its lease.
type Leadership struct{ l *Lock }

// Elect waits until this candidate leads group (any string), or ctx ends.
// Candidates lead in the order they stood; value (the candidate's
// address, say) is what Leader tells others.
func (c *Client) Elect(ctx context.Context, group string, value []byte) (*Leadership, error) {
	l, err := c.acquire(ctx, ElectDomain(group), value)
	if err != nil {
		return nil, err
	}
	return &Leadership{l}, nil
}

// Token is the leadership's fencing token: every later leader's is
// greater.
func (ld *Leadership) Token() uint64 { return ld.l.Token() }

// Done is closed when the leadership ends or may have ended (see
// Lock.Done): a new leader may be elected from then on.
func (ld *Leadership) Done() <-chan struct{} { return ld.l.Done() }

// Valid reports whether the candidate surely still leads (see Lock.Valid):
// a leader paused past its lease finds it false the moment it resumes,
// before it could act on the old leadership, and before any new leader
// could have been elected.
func (ld *Leadership) Valid() bool { return ld.l.Valid() }

// Resign ends the leadership: the next candidate leads.
func (ld *Leadership) Resign(ctx context.Context) error { return ld.l.Unlock(ctx) }

// Leader returns the value and token of group's leader (ErrNotFound if
// no candidate stands).
func (c *Client) Leader(ctx context.Context, group string) (value []byte, token uint64, err error) {
	nodes, err := c.List(ctx, ElectDomain(group))
	if err != nil {
		return nil, 0, err
	}
	var first *Node
	for _, n := range nodes {
		if first == nil || place(n) < place(first) {
			first = n
		}
	}
	if first == nil {
		return nil, 0, fmt.Errorf("%w: no candidate in group %s", ErrNotFound, group)
	}
	if len(first.Value) < 8 {
		return nil, place(first), nil // standing, its value not written yet
	}
	return first.Value[8:], place(first), nil
}
