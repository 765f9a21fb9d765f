package workman

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/tracing"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/warehouse"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Peer is another worker (or this one) as seen from inside DoTask or
// Receive: Fourinone's Workman handle. Its Receive sends it a Warehouse. A
// Peer is a value; it is safe for concurrent use.
type Peer struct {
	ID   string
	Type string
	// Index is the worker's position among the live workers of its type,
	// ordered by start time, as the registry showed it when the Mesh read
	// it.
	Index int

	url, subject string
	mesh         *Mesh
}

func (p Peer) String() string { return fmt.Sprintf("%s#%d(%s)", p.Type, p.Index, p.ID) }

// PeerError is the error a peer's Receive returned (or its panic).
type PeerError struct {
	Peer string // the peer's id
	Msg  string
}

func (e *PeerError) Error() string { return fmt.Sprintf("workman: peer %s: %s", e.Peer, e.Msg) }

// Receive sends in to the peer and waits until the peer's Receive has
// returned, returning its error as a *PeerError. It runs on the peer's
// Receive goroutines, never behind its DoTask calls. A peer that is gone
// fails the call at once; one that does not answer fails it after the
// workman's PeerTimeout. Errors name the peer.
func (p Peer) Receive(ctx context.Context, in *warehouse.Warehouse) (err error) {
	if p.mesh == nil {
		return errors.New("workman: Peer has no mesh: use peers from MeshFrom(ctx)")
	}
	if tracing.Traced(ctx) { // inside a traced task: the call is part of its trace
		var span trace.Span
		ctx, span = tracing.Tracer().Start(ctx, "Peer.Receive", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("fourinone.worker", p.mesh.wm.cfg.ID), attribute.String("fourinone.peer", p.ID)))
		defer func() {
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}()
	}
	if in == nil {
		in = warehouse.New()
	}
	wm := p.mesh.wm
	ctx, cancel := context.WithTimeout(ctx, wm.cfg.PeerTimeout)
	defer cancel()
	body, _ := in.MarshalBinary()
	c, err := wm.pool.Get(p.url)
	if err != nil {
		return fmt.Errorf("workman: receive on peer %s: %w", p.ID, err)
	}
	self, err := p.mesh.Self(ctx)
	if err != nil {
		return err
	}
	meta := encodePeer(self)
	out, err := c.Call(ctx, wire.ReceiveSubject(p.subject), wire.CancelSubject(p.subject), meta, body)
	// A peer whose request budget is full took nothing: try again, backing
	// off, until the PeerTimeout.
	for wait := 10 * time.Millisecond; errors.Is(err, wire.ErrBusy); wait = min(2*wait, time.Second) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("workman: receive on peer %s: %w (%w)", p.ID, err, ctx.Err())
		case <-time.After(wait):
		}
		out, err = c.Call(ctx, wire.ReceiveSubject(p.subject), wire.CancelSubject(p.subject), meta, body)
	}
	if err != nil {
		return fmt.Errorf("workman: receive on peer %s: %w", p.ID, err)
	}
	res, err := warehouse.Decode(out)
	if err != nil {
		return fmt.Errorf("workman: receive on peer %s: %w", p.ID, err)
	}
	if res.Status() == warehouse.StatusException {
		return &PeerError{Peer: p.ID, Msg: res.Message()}
	}
	return nil
}

// encodePeer writes a peer's id, type, index and endpoint: the metadata of
// a Receive call, so the receiver can answer its sender.
func encodePeer(p Peer) []byte {
	var b []byte
	for _, s := range []string{p.ID, p.Type, p.url, p.subject} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return binary.AppendVarint(b, int64(p.Index))
}

func decodePeer(b []byte) (Peer, error) {
	var f [4]string
	for i := range f {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return Peer{}, errors.New("malformed sender in a Receive call")
		}
		f[i], b = string(b[k:k+int(n)]), b[k+int(n):]
	}
	idx, k := binary.Varint(b)
	if k <= 0 || k != len(b) {
		return Peer{}, errors.New("malformed sender in a Receive call")
	}
	return Peer{ID: f[0], Type: f[1], url: f[2], subject: f[3], Index: int(idx)}, nil
}

// Mesh reaches the other workers from inside DoTask or Receive: Fourinone's
// getWorkerElse, getWorkerIndex, getWorkerAll and getSelfIndex. It reads
// the registry once, at its first use, so every call on one Mesh sees the
// same workers (but Peer, looking for a worker by id that is not among
// them, reads again). It is safe for concurrent use.
type Mesh struct {
	wm *Workman

	once    sync.Once // loads members
	members []registry.Member
	err     error
}

type meshKey struct{}

func withMesh(ctx context.Context, m *Mesh) context.Context {
	return context.WithValue(ctx, meshKey{}, m)
}

// MeshFrom returns the Mesh of the DoTask or Receive call whose ctx this
// is, or nil for any other context.
func MeshFrom(ctx context.Context) *Mesh {
	m, _ := ctx.Value(meshKey{}).(*Mesh)
	return m
}

func (wm *Workman) newMesh() *Mesh { return &Mesh{wm: wm} }

// ErrNoPeer reports a peer index or address with no live worker.
var ErrNoPeer = errors.New("workman: no such peer")

func (m *Mesh) load(ctx context.Context) ([]registry.Member, error) {
	m.once.Do(func() {
		snap, err := m.wm.reg.Snapshot(ctx)
		if err != nil {
			m.err = fmt.Errorf("workman: read the registry for peers: %w", err)
			return
		}
		m.members = snap.Workmen("")
	})
	return m.members, m.err
}

// ofType returns the live workers of typ (every type if blank) as Peers,
// each with its index among its type.
func (m *Mesh) ofType(ctx context.Context, typ string) ([]Peer, error) {
	ms, err := m.load(ctx)
	if err != nil {
		return nil, err
	}
	return m.peers(ms, typ), nil
}

// peers returns the workers of typ (every type if blank) among ms as
// Peers, each with its index among its type.
func (m *Mesh) peers(ms []registry.Member, typ string) []Peer {
	index := make(map[string]int)
	var out []Peer
	for _, mb := range ms {
		i := index[mb.Type]
		index[mb.Type]++
		if typ == "" || mb.Type == typ {
			out = append(out, Peer{ID: mb.ID, Type: mb.Type, Index: i, url: mb.Endpoint.URL, subject: mb.Endpoint.Subject, mesh: m})
		}
	}
	return out
}

func (m *Mesh) without(ps []Peer, err error) ([]Peer, error) {
	if err != nil {
		return nil, err
	}
	out := ps[:0]
	for _, p := range ps {
		if p.ID != m.wm.cfg.ID {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m *Mesh) at(ps []Peer, err error, typ string, i int) (Peer, error) {
	if err != nil {
		return Peer{}, err
	}
	if i < 0 || i >= len(ps) {
		return Peer{}, fmt.Errorf("%w: index %d of type %q (%d live)", ErrNoPeer, i, typ, len(ps))
	}
	return ps[i], nil
}

// Self returns this worker as a Peer.
func (m *Mesh) Self(ctx context.Context) (Peer, error) {
	ps, err := m.ofType(ctx, m.wm.cfg.Type)
	if err != nil {
		return Peer{}, err
	}
	for _, p := range ps {
		if p.ID == m.wm.cfg.ID {
			return p, nil
		}
	}
	// Not in the registry (the park is between restarts): answerable still.
	return Peer{ID: m.wm.cfg.ID, Type: m.wm.cfg.Type, Index: -1, url: m.wm.self.Endpoint.URL,
		subject: m.wm.self.Endpoint.Subject, mesh: m}, nil
}

// SelfIndex returns this worker's index among the workers of its type.
func (m *Mesh) SelfIndex(ctx context.Context) (int, error) {
	p, err := m.Self(ctx)
	return p.Index, err
}

// Else returns the other workers of this worker's type.
func (m *Mesh) Else(ctx context.Context) ([]Peer, error) {
	return m.without(m.ofType(ctx, m.wm.cfg.Type))
}

// ElseOfType returns the workers of typ other than this one.
func (m *Mesh) ElseOfType(ctx context.Context, typ string) ([]Peer, error) {
	return m.without(m.ofType(ctx, typ))
}

// Index returns the worker of this worker's type at index i.
func (m *Mesh) Index(ctx context.Context, i int) (Peer, error) {
	ps, err := m.ofType(ctx, m.wm.cfg.Type)
	return m.at(ps, err, m.wm.cfg.Type, i)
}

// IndexOfType returns the worker of typ at index i.
func (m *Mesh) IndexOfType(ctx context.Context, typ string, i int) (Peer, error) {
	ps, err := m.ofType(ctx, typ)
	return m.at(ps, err, typ, i)
}

// Peer returns the live worker with id, of any type: the way to reach the
// team a foreman names in its tasks (the registry's workers of a type may
// include others than those the job claimed). A worker the foreman named
// but the registry left out may be late with its heartbeat (a busy
// machine): Peer reads the registry again for up to a lease before it
// says there is no such worker.
func (m *Mesh) Peer(ctx context.Context, id string) (Peer, error) {
	ps, err := m.ofType(ctx, "")
	for until := time.Now().Add(m.wm.reg.Lease()); ; {
		if err != nil {
			return Peer{}, err
		}
		for _, p := range ps {
			if p.ID == id {
				return p, nil
			}
		}
		if time.Now().After(until) {
			return Peer{}, fmt.Errorf("%w: no live worker %q", ErrNoPeer, id)
		}
		select {
		case <-ctx.Done():
			return Peer{}, fmt.Errorf("%w: no live worker %q (%w)", ErrNoPeer, id, ctx.Err())
		case <-time.After(m.wm.reg.HeartbeatInterval()):
		}
		var snap *registry.Snapshot
		if snap, err = m.wm.reg.Snapshot(ctx); err == nil {
			ps = m.peers(snap.Workmen(""), "")
		}
	}
}

// All returns every live worker of every type, this one included.
func (m *Mesh) All(ctx context.Context) ([]Peer, error) { return m.ofType(ctx, "") }

// AllOfType returns every live worker of typ, this one included.
func (m *Mesh) AllOfType(ctx context.Context, typ string) ([]Peer, error) {
	return m.ofType(ctx, typ)
}
