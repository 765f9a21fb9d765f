// Package registry is the park's registry of workmen and foremen, kept in a
// JetStream key/value bucket whose TTL is the lease: a member that stops
// heartbeating expires with its entry. Liveness is also decided when the
// registry is read (Alive), from the server's timestamp of the last
// heartbeat, so a reader never sees a member past its lease even before the
// bucket purges it.
//
// Keys: "workman.<id>" and "foreman.<id>" hold a Member as JSON;
// "claim.<workman id>.<slot>" holds the id of the foreman that claimed that
// slot of a workman's capacity.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is the name of the registry's key/value bucket.
const Bucket = "fourinone_registry"

// DefaultLease is how long a member stays registered after its last
// heartbeat unless the park server is configured otherwise.
const DefaultLease = 3 * time.Second

// Roles.
const (
	RoleWorkman = "workman"
	RoleForeman = "foreman"
)

// StateWaiting is the state of a workman that serves and may be claimed.
// A workman that shuts down leaves the registry instead of changing state.
const StateWaiting = "waiting"

// Modes of a workman's endpoint.
const (
	ModeMesh = "mesh" // the workman's own NATS server
	ModeHub  = "hub"  // the park server's NATS
)

// Endpoint is where a workman serves: a NATS URL and a subject prefix.
type Endpoint struct {
	URL     string `json:"url"`
	Subject string `json:"subject"`
	Mode    string `json:"mode"`
}

// Member is one registered workman or foreman.
type Member struct {
	ID       string    `json:"id"`
	Role     string    `json:"role"`
	Type     string    `json:"type,omitempty"`
	Endpoint Endpoint  `json:"endpoint,omitzero"`
	Capacity int       `json:"capacity,omitempty"`
	State    string    `json:"state"`
	Host     string    `json:"host,omitempty"`
	PID      int       `json:"pid,omitempty"`
	Started  time.Time `json:"started"`
	// Updated is the park server's time of the last heartbeat; it is not
	// part of the stored JSON.
	Updated time.Time `json:"-"`
}

func (m *Member) key() string { return m.Role + "." + m.ID }

// Alive reports whether a member last heard from at updated is still
// within its lease at now.
func Alive(updated, now time.Time, lease time.Duration) bool {
	return now.Sub(updated) < lease
}

// Registry is a client of the registry bucket. It is safe for concurrent
// use.
type Registry struct {
	kv    jetstream.KeyValue
	lease time.Duration
	now   func() time.Time
}

// Create creates (or updates) the registry bucket with the given lease; the
// park server calls it at start.
func Create(ctx context.Context, js jetstream.JetStream, lease time.Duration) (*Registry, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "fourinone registry of workmen, foremen and claims",
		History:     1,
		TTL:         lease,
		Storage:     jetstream.MemoryStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("registry: create bucket: %w", err)
	}
	return &Registry{kv: kv, lease: lease, now: time.Now}, nil
}

// Open binds to the registry bucket a park server created. It waits for the
// bucket until ctx ends, so members may start before the park server.
func Open(ctx context.Context, nc *nats.Conn) (*Registry, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	for {
		kv, err := js.KeyValue(ctx, Bucket)
		if err == nil {
			st, err := kv.Status(ctx)
			if err != nil {
				return nil, fmt.Errorf("registry: bucket status: %w", err)
			}
			return &Registry{kv: kv, lease: st.TTL(), now: time.Now}, nil
		}
		if !errors.Is(err, jetstream.ErrBucketNotFound) && !errors.Is(err, jetstream.ErrJetStreamNotEnabled) &&
			!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("registry: open bucket: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("registry: no registry bucket on the park server: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Lease returns the registry's lease.
func (r *Registry) Lease() time.Duration { return r.lease }

// HeartbeatInterval is how often a member refreshes its entry: a third of
// the lease, so two heartbeats may be lost without losing the lease.
func (r *Registry) HeartbeatInterval() time.Duration { return r.lease / 3 }

// Put registers m or refreshes its heartbeat.
func (r *Registry) Put(ctx context.Context, m *Member) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := r.kv.Put(ctx, m.key(), b); err != nil {
		return fmt.Errorf("registry: put %s: %w", m.key(), err)
	}
	return nil
}

// Heartbeat refreshes m's entry every HeartbeatInterval until ctx ends,
// then calls each (if not nil) with a context bounded by the interval. A
// failed heartbeat (park server down) is reported to fail and retried at
// the next tick, which re-registers m once the park is back.
func (r *Registry) Heartbeat(ctx context.Context, m Member, fail func(error), each func(context.Context)) {
	t := time.NewTicker(r.HeartbeatInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, r.HeartbeatInterval())
		if err := r.Put(pctx, &m); err != nil && ctx.Err() == nil {
			fail(err)
		}
		if each != nil {
			each(pctx)
		}
		cancel()
	}
}

// Delete removes m's entry.
func (r *Registry) Delete(ctx context.Context, m *Member) error {
	if err := r.kv.Delete(ctx, m.key()); err != nil {
		return fmt.Errorf("registry: delete %s: %w", m.key(), err)
	}
	return nil
}

// Snapshot is the registry at one moment: live members and claims.
type Snapshot struct {
	Members []Member
	// Claims maps a workman id to its claimed slots (slot -> foreman id).
	Claims map[string]map[int]string
}

// Workmen returns the live workmen of type typ (all types if blank), in
// ascending id order.
func (s *Snapshot) Workmen(typ string) []Member {
	var out []Member
	for _, m := range s.Members {
		if m.Role == RoleWorkman && (typ == "" || m.Type == typ) {
			out = append(out, m)
		}
	}
	return out
}

// Snapshot reads the whole registry, leaving out members and claims past
// their lease.
func (r *Registry) Snapshot(ctx context.Context) (*Snapshot, error) {
	w, err := r.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("registry: read: %w", err)
	}
	defer w.Stop()
	now := r.now()
	s := &Snapshot{Claims: make(map[string]map[int]string)}
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return nil, fmt.Errorf("registry: read: %w", ctx.Err())
		}
		if e == nil { // all current values delivered
			break
		}
		if !Alive(e.Created(), now, r.lease) {
			continue
		}
		key := e.Key()
		if rest, ok := strings.CutPrefix(key, "claim."); ok {
			id, slotStr, ok := strings.Cut(rest, ".")
			slot, err := strconv.Atoi(slotStr)
			if !ok || err != nil {
				continue
			}
			if s.Claims[id] == nil {
				s.Claims[id] = make(map[int]string)
			}
			s.Claims[id][slot] = string(e.Value())
			continue
		}
		var m Member
		if err := json.Unmarshal(e.Value(), &m); err != nil {
			continue // not ours; a registry must survive a bad entry
		}
		m.Updated = e.Created()
		s.Members = append(s.Members, m)
	}
	sortMembers(s.Members)
	return s, nil
}

func claimKey(workmanID string, slot int) string {
	return "claim." + workmanID + "." + strconv.Itoa(slot)
}

// Claim is one claimed slot of a workman.
type Claim struct {
	WorkmanID string
	Slot      int
	rev       uint64
}

// ErrClaimLost reports a claim that expired or was taken by another foreman.
var ErrClaimLost = errors.New("registry: claim lost")

// TryClaim claims slot of a workman for foremanID; ok is false if another
// foreman holds it.
func (r *Registry) TryClaim(ctx context.Context, workmanID string, slot int, foremanID string) (c Claim, ok bool, err error) {
	rev, err := r.kv.Create(ctx, claimKey(workmanID, slot), []byte(foremanID))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, fmt.Errorf("registry: claim %s slot %d: %w", workmanID, slot, err)
	}
	return Claim{WorkmanID: workmanID, Slot: slot, rev: rev}, true, nil
}

// Refresh renews a claim's lease. If the claim's entry is gone (the park
// server restarted with an empty registry) it is created again; it fails
// with ErrClaimLost only if another foreman holds the slot now.
func (r *Registry) Refresh(ctx context.Context, c *Claim, foremanID string) error {
	key, val := claimKey(c.WorkmanID, c.Slot), []byte(foremanID)
	rev, err := r.kv.Update(ctx, key, val, c.rev)
	if isWrongLast(err) { // our revision is stale: the entry expired or the registry restarted
		rev, err = r.kv.Create(ctx, key, val)
		if errors.Is(err, jetstream.ErrKeyExists) {
			e, gerr := r.kv.Get(ctx, key)
			if gerr != nil || string(e.Value()) != foremanID {
				return fmt.Errorf("%w: %s slot %d", ErrClaimLost, c.WorkmanID, c.Slot)
			}
			rev, err = r.kv.Update(ctx, key, val, e.Revision())
		}
	}
	if err != nil {
		return fmt.Errorf("registry: refresh claim %s slot %d: %w", c.WorkmanID, c.Slot, err)
	}
	c.rev = rev
	return nil
}

func isWrongLast(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// Release gives a claim back, unless it changed hands since.
func (r *Registry) Release(ctx context.Context, c Claim) error {
	err := r.kv.Delete(ctx, claimKey(c.WorkmanID, c.Slot), jetstream.LastRevision(c.rev))
	if err != nil {
		if isWrongLast(err) {
			return nil // not ours any more
		}
		return fmt.Errorf("registry: release claim %s slot %d: %w", c.WorkmanID, c.Slot, err)
	}
	return nil
}

// sortMembers orders members by start time, then id, so a workman's index
// among its type stays put when others join later.
func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
