// Package registry is the park's registry of workmen and foremen, kept in a
// JetStream key/value bucket whose TTL is the lease: a member that stops
// heartbeating expires with its entry. Liveness is also decided when the
// registry is read (Alive), from the server's timestamp of the last
// heartbeat, so a reader never sees a member past its lease even before the
// bucket purges it.
//
// Keys: "workman.<id>" and "foreman.<id>" hold a Member as JSON;
// "claim.<workman id>" holds the workman's claims: how many of its slots
// each foreman holds, changed only by compare-and-set, so claiming costs a
// write per workman, not per slot. A foreman's share counts only while the
// foreman's own entry is alive: a dead foreman's slots are free at once
// when its lease ends, whoever else shares the record.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/fourinone-go/fourinone/internal/streams"
	"github.com/fourinone-go/fourinone/security"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Bucket is the name of the registry's key/value bucket.
const Bucket = "fourinone_registry"

// DefaultLease is how long a member stays registered after its last
// heartbeat unless the park server is configured otherwise.
const DefaultLease = 3 * time.Second

// Roles.
const (
	RoleWorkman    = "workman"
	RoleForeman    = "foreman"
	RoleContractor = "contractor" // a job-center contractor; Type is its Work type
)

// States of a member. A member that shuts down leaves the registry
// instead of changing state.
const (
	// StateWaiting: a workman with no task running, a foreman with no job.
	StateWaiting = "waiting"
	// StateBusy: a workman running tasks (Busy of its Capacity, for the
	// foremen in For), a foreman running jobs (Jobs).
	StateBusy = "busy"
)

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

// MaxCapacity is the largest capacity a workman may advertise; an entry
// with a capacity below 1 or above it is left out of every Snapshot.
const MaxCapacity = 100_000

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
	// Busy is how many tasks a workman runs, For the foremen they are for,
	// Jobs the jobs a foreman runs (as of the last heartbeat).
	Busy int      `json:"busy,omitempty"`
	For  []string `json:"for,omitempty"`
	Jobs []string `json:"jobs,omitempty"`
	// Done counts the tasks a workman finished (results and exceptions),
	// Failed the exceptions among them, since it started.
	Done   int64 `json:"done,omitempty"`
	Failed int64 `json:"failed,omitempty"`
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
	nc    *nats.Conn
	kv    jetstream.KeyValue
	lease time.Duration
	now   func() time.Time
	// replicas is how many servers keep the bucket: with more than one, a
	// write that times out is a lost quorum (ErrNoQuorum).
	replicas int
}

// restartedKey marks, in the bucket's metadata, a registry that a park
// server created again after a restart: it has forgotten the claims.
const restartedKey = "fourinone_restarted"

// Setup is how a park server creates the registry.
type Setup struct {
	// Lease is the registry's lease (the bucket's TTL).
	Lease time.Duration
	// Restarted says the park ran before on its store, so members held
	// claims this registry (in memory) has forgotten: new claims then wait
	// a lease from now (see Snapshot.ClaimsOpenIn).
	Restarted bool
	// Trust (operator mode: members hold per-role credentials) puts the
	// operator's and account's JWTs in the bucket's metadata, so that
	// workmen's mesh listeners verify credentials as the park does (see
	// Registry.Trust).
	Trust *security.Trust
	// Replicas is how many servers of a cluster keep the bucket; 0 is 1.
	Replicas int
}

// Create creates (or updates) the registry bucket; the park server calls
// it at start.
func Create(ctx context.Context, js jetstream.JetStream, set Setup) (*Registry, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "fourinone registry of workmen, foremen and claims",
		History:     1,
		TTL:         set.Lease,
		Storage:     jetstream.MemoryStorage,
		Replicas:    max(set.Replicas, 1),
	}
	if cfg.Replicas > 1 {
		// Replicas in memory cannot recover from losing most of them at
		// once (each restarts empty): in a cluster the registry is on disk.
		cfg.Storage = jetstream.FileStorage
	}
	cfg.Metadata = map[string]string{}
	if set.Restarted {
		cfg.Metadata[restartedKey] = "true"
	}
	if t := set.Trust; t != nil {
		cfg.Metadata[operatorKey], cfg.Metadata[accountKey], cfg.Metadata[systemKey] = t.Operator, t.Account, t.System
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("registry: create bucket: %w", err)
	}
	if cfg.Replicas > 1 {
		if err := streams.LeaderReads(ctx, js, "KV_"+Bucket, cfg.Replicas); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		if kv, err = js.KeyValue(ctx, Bucket); err != nil { // bound again: reads from the leader
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	return &Registry{nc: js.Conn(), kv: kv, lease: set.Lease, now: time.Now, replicas: cfg.Replicas}, nil
}

// replicasOf returns how many servers keep the bucket.
func replicasOf(st jetstream.KeyValueStatus) int {
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok && bs.StreamInfo() != nil {
		return bs.StreamInfo().Config.Replicas
	}
	return 1
}

// Open binds to the registry bucket a park server created. It waits for the
// bucket until ctx ends, so members may start before the park server.
func Open(ctx context.Context, nc *nats.Conn) (*Registry, error) { return OpenLogged(ctx, nc, nil) }

// OpenLogged is Open, saying once on log (if not nil), at WARN, what it
// waits for when the bucket cannot be read at once (the park server
// starting, its cluster electing a leader, a link down), and at INFO when
// it can. Every error is retried until ctx ends.
func OpenLogged(ctx context.Context, nc *nats.Conn, log *zap.Logger) (*Registry, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	t0, said := time.Now(), false
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		r, err := open(actx, nc, js)
		cancel()
		if err == nil {
			if said {
				log.Info("the park's registry answers", zap.Duration("after", time.Since(t0)))
			}
			return r, nil
		}
		if log != nil && !said {
			said = true
			log.Warn("waiting for the park's registry (is the park server starting, or its cluster electing a leader?)", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("registry: the park's registry cannot be read (%v): %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// open binds to the registry bucket once.
func open(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) (*Registry, error) {
	kv, err := js.KeyValue(ctx, Bucket)
	if err != nil {
		return nil, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	return &Registry{nc: nc, kv: kv, lease: st.TTL(), now: time.Now, replicas: replicasOf(st)}, nil
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
	return r.put(ctx, m.key(), b)
}

// Register writes m's entry, trying again every 100 ms until ctx ends
// (a write refused for want of a quorum or a leader succeeds once the
// cluster has one), and says once on log (if not nil), at WARN, that it
// waits.
func (r *Registry) Register(ctx context.Context, m *Member, log *zap.Logger) error {
	t0, said := time.Now(), false
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := r.Put(pctx, m)
		cancel()
		if err == nil {
			if said {
				log.Info("registered", zap.Duration("after", time.Since(t0)))
			}
			return nil
		}
		if log != nil && !said {
			said = true
			log.Warn("waiting to register with the park", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *Registry) put(ctx context.Context, key string, b []byte) error {
	if _, err := r.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("registry: put %s: %w", key, r.unavailable(err))
	}
	return nil
}

// ErrNoQuorum wraps a registry write that a park cluster could not commit
// in time: fewer than a majority of the servers keeping the registry are
// up (or reachable from each other).
var ErrNoQuorum = errors.New("no quorum: the park cluster cannot commit registry writes (are most of its servers down?)")

// unavailable names a write's failure for what it is when the registry is
// replicated and the write timed out: no quorum.
func (r *Registry) unavailable(err error) error {
	if r.replicas < 2 {
		return err
	}
	var apiErr *jetstream.APIError
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.As(err, &apiErr) && apiErr.Code == 503 {
		return fmt.Errorf("%w: %w", ErrNoQuorum, err)
	}
	return err
}

// Heartbeat refreshes the entry self returns every HeartbeatInterval
// (so that it shows the member's state as of then) until ctx ends, then
// calls each (if not nil) with a context bounded by the interval and,
// if the refresh succeeded, the time it started (m's entry lives at least
// until then plus the lease), else the zero time. A
// park server that cannot be reached is logged once ("park unreachable,
// retrying") and again when it is back; each tick retries, which
// re-registers m once the park is back.
func (r *Registry) Heartbeat(ctx context.Context, self func() Member, log *zap.Logger, each func(ctx context.Context, alive time.Time)) {
	r.heartbeat(ctx, self, log, each, false)
}

// HeartbeatUnacked is Heartbeat for a member that does not need to know
// when the park took each refresh (a workman: a foreman needs it for its
// claims). A refresh that leaves the entry as it was is published
// without waiting for the park's acknowledgement, which costs the park
// one message read instead of a read and a write of the acknowledgement
// (with thousands of members, most of its heartbeat load); a changed
// entry, and every third refresh (so once a lease), waits for it, so a
// park that stopped storing them is noticed within a lease. each gets
// the start of an unacknowledged refresh as its alive time if the
// connection was up.
func (r *Registry) HeartbeatUnacked(ctx context.Context, self func() Member, log *zap.Logger, each func(ctx context.Context, alive time.Time)) {
	r.heartbeat(ctx, self, log, each, true)
}

func (r *Registry) heartbeat(ctx context.Context, self func() Member, log *zap.Logger, each func(ctx context.Context, alive time.Time), unacked bool) {
	t := time.NewTicker(r.HeartbeatInterval())
	defer t.Stop()
	down := false
	var acked []byte // the entry as the park last acknowledged it
	for beat := 1; ; beat++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, r.HeartbeatInterval())
		start := time.Now()
		m := self()
		b, err := json.Marshal(&m)
		switch {
		case err != nil:
		case unacked && beat%3 != 0 && bytes.Equal(b, acked) && r.nc.IsConnected():
			err = r.nc.Publish(r.subject(m.key()), b)
		default:
			acked = nil
			if err = r.put(pctx, m.key(), b); err == nil {
				acked = b
			}
		}
		switch {
		case ctx.Err() != nil:
		case err != nil && !down:
			down = true
			log.Warn("park unreachable, retrying", zap.Error(err))
		case err == nil && down:
			down = false
			log.Info("park reachable again")
		}
		if each != nil {
			var alive time.Time
			if err == nil {
				alive = start
			}
			each(pctx, alive)
		}
		cancel()
	}
}

// subject is the subject the bucket stores key's values on.
func (r *Registry) subject(key string) string { return "$KV." + Bucket + "." + key }

// MemberView is a member as the dashboard and the fourinone command show
// it: with the slots foremen claim of it and the seconds since its last
// heartbeat.
type MemberView struct {
	Member
	Claimed  int     `json:"claimed"`
	LastSeen float64 `json:"last_seen_seconds"`
}

// View returns m, a member of s, as of now.
func (s *Snapshot) View(m Member, now time.Time) MemberView {
	return MemberView{Member: m, Claimed: s.Claimed(m.ID), LastSeen: now.Sub(m.Updated).Round(time.Millisecond).Seconds()}
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
	// Claims maps a workman id to its claims: slots by foreman id, live
	// foremen only.
	Claims map[string]map[string]int
	// Rejected counts entries left out as malformed or absurd (a workman
	// with a capacity below 1 or above MaxCapacity, a state not in its
	// set, an id with a space); Bad says why, by key, for the first
	// maxBad of them.
	Rejected int
	Bad      map[string]string
	// Age is how long the registry has existed, on the park's clock: a
	// registry younger than a lease (the park just restarted) may miss
	// members that have not re-registered yet.
	Age time.Duration
	// ClaimsOpenIn is how long new claims must wait: a registry created
	// again by a park restarted on its store takes none for a lease, so
	// that the foremen that held slots before the restart (and may still
	// use them: a claim is theirs for a lease after they last renewed it)
	// re-create their claims first.
	ClaimsOpenIn time.Duration
}

// Claimed returns how many slots of a workman live foremen hold.
func (s *Snapshot) Claimed(workmanID string) int {
	n := 0
	for _, slots := range s.Claims[workmanID] {
		n += slots
	}
	return n
}

// Workmen returns the live workmen of type typ (all types if blank), in
// ascending id order.
func (s *Snapshot) Workmen(typ string) []Member { return s.Of(RoleWorkman, typ) }

// Of returns the live members of a role and type (all types if blank).
func (s *Snapshot) Of(role, typ string) []Member {
	var out []Member
	for _, m := range s.Members {
		if m.Role == role && (typ == "" || m.Type == typ) {
			out = append(out, m)
		}
	}
	return out
}

// Bounds on what a member may write about itself, beyond MaxCapacity.
const (
	maxEndpoint = 1024 // bytes of an endpoint's URL (a list of URLs)
	maxSubject  = 256  // bytes of an endpoint's subject prefix
	maxNamed    = 1024 // foremen in For, jobs in Jobs
)

// valid reports whether a decoded member makes sense.
func (m *Member) valid() bool { return m.check() == nil }

// check says why a decoded member makes no sense, if it does not: what a
// member writes is shown on the dashboard and used by foremen, so every
// field is in its set, character set and range (names.ValidID and the
// like), whoever wrote it.
func (m *Member) check() error {
	switch m.Role {
	case RoleWorkman:
		if m.Capacity < 1 || m.Capacity > MaxCapacity {
			return fmt.Errorf("capacity %d (1 to %d)", m.Capacity, MaxCapacity)
		}
		if m.Busy > m.Capacity {
			return fmt.Errorf("busy %d over its capacity %d", m.Busy, m.Capacity)
		}
		if m.Endpoint.Mode != ModeMesh && m.Endpoint.Mode != ModeHub {
			return errors.New("endpoint mode not mesh or hub")
		}
	case RoleForeman, RoleContractor:
		if m.Capacity != 0 || m.Busy != 0 || m.Endpoint != (Endpoint{}) {
			return fmt.Errorf("a %s with a capacity or an endpoint", m.Role)
		}
	default:
		return errors.New("role not workman, foreman or contractor")
	}
	switch {
	case !names.ValidID(m.ID):
		return errors.New("id not 1 to 128 letters, digits, '-' or '_'")
	case m.Role == RoleForeman && m.Type != "" || m.Role != RoleForeman && !names.ValidType(m.Type):
		return errors.New("type not 1 to 64 letters, digits, '-' or '_'")
	case m.State != StateWaiting && m.State != StateBusy:
		return errors.New("state not waiting or busy")
	case m.Host != "" && !names.ValidHost(m.Host):
		return errors.New("host not 1 to 253 letters, digits, '-', '_', '.' or ':'")
	case m.PID < 0 || m.PID > math.MaxInt32:
		return fmt.Errorf("pid %d", m.PID)
	case m.Busy < 0 || m.Done < 0 || m.Failed < 0 || m.Failed > m.Done:
		return errors.New("negative counts, or more failed than done")
	case len(m.For) > maxNamed || len(m.Jobs) > maxNamed:
		return fmt.Errorf("more than %d foremen or jobs", maxNamed)
	case !validURLs(m.Endpoint.URL):
		return fmt.Errorf("endpoint URL not printable ASCII without quotes or brackets, at most %d bytes", maxEndpoint)
	case !validSubject(m.Endpoint.Subject):
		return fmt.Errorf("endpoint subject not dot-separated words, at most %d bytes", maxSubject)
	}
	for _, ids := range [][]string{m.For, m.Jobs} {
		for _, id := range ids {
			if !names.ValidID(id) {
				return errors.New("a foreman or job id not 1 to 128 letters, digits, '-' or '_'")
			}
		}
	}
	return nil
}

// validURLs reports whether s (an endpoint's URLs, comma-separated) is
// printable ASCII with none of the characters that end a value in HTML or
// JSON: space, quotes, angle brackets, backslash, backquote.
func validURLs(s string) bool {
	if len(s) > maxEndpoint {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"'<>\`+"`", c) >= 0 {
			return false
		}
	}
	return true
}

// validSubject reports whether s is blank or a NATS subject of literal
// tokens: words (names.ValidID's characters) joined by single dots.
func validSubject(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > maxSubject {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if !names.ValidID(tok) {
			return false
		}
	}
	return true
}

// Snapshot reads the whole registry, leaving out members past their lease,
// claims of foremen past theirs, and entries that make no sense.
func (r *Registry) Snapshot(ctx context.Context) (*Snapshot, error) {
	for {
		s, err := r.snapshot(ctx)
		if !errors.Is(err, errLagging) {
			return s, err
		}
		// The next reader may land on another server, or this one caught up.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(lagRetry):
		}
	}
}

// errLagging: a Snapshot was read from a replica of the bucket that had not
// caught up with its leader. JetStream places the consumer a read takes on
// any of the stream's servers, one restarted a moment ago included, and
// that one's entries are old: its workmen would all look past their lease.
var errLagging = errors.New("registry: read from a server that has not caught up")

// lagRetry is how long a Snapshot waits to read again after reading from
// a replica that lags.
const lagRetry = 50 * time.Millisecond

func (r *Registry) snapshot(ctx context.Context) (*Snapshot, error) {
	info, err := r.info(ctx)
	if err != nil {
		return nil, err
	}
	age, restarted := info.age()
	w, err := r.kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: read: %w", err)
	}
	defer w.Stop()
	// The stream's last message is its subject's only one (History 1),
	// whatever it is (a delete too): a reader that has caught up with the
	// leader delivers it.
	var seen uint64
	now := r.now()
	s := &Snapshot{Claims: make(map[string]map[string]int), Age: age}
	if restarted {
		s.ClaimsOpenIn = max(0, r.lease-age)
	}
	claims := make(map[string]holders)
	foremen := make(map[string]bool)
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
		seen = max(seen, e.Revision())
		if e.Operation() != jetstream.KeyValuePut || !Alive(e.Created(), now, r.lease) {
			continue
		}
		if id, ok := strings.CutPrefix(e.Key(), "claim."); ok {
			h, err := decodeHolders(e.Value())
			if err != nil {
				s.reject(e.Key(), err)
				continue
			}
			claims[id] = h
			continue
		}
		var m Member
		if err := decodeMember(e.Key(), e.Value(), &m); err != nil {
			s.reject(e.Key(), err)
			continue // not ours; a registry must survive a bad entry
		}
		m.Updated = e.Created()
		s.Members = append(s.Members, m)
		if m.Role == RoleForeman {
			foremen[m.ID] = true
		}
	}
	for id, h := range claims {
		for f, n := range h {
			if foremen[f] {
				if s.Claims[id] == nil {
					s.Claims[id] = make(map[string]int)
				}
				s.Claims[id][f] = n
			}
		}
	}
	if st := info.State; st.Msgs > 0 && seen < st.LastSeq {
		return nil, fmt.Errorf("%w (read up to %d of %d)", errLagging, seen, st.LastSeq)
	}
	sortMembers(s.Members)
	return s, nil
}

// maxBad bounds the reasons a Snapshot keeps.
const maxBad = 64

// reject counts the entry at key as left out, for why.
func (s *Snapshot) reject(key string, why error) {
	s.Rejected++
	if len(s.Bad) < maxBad {
		if s.Bad == nil {
			s.Bad = make(map[string]string)
		}
		s.Bad[key] = why.Error()
	}
}

// decodeMember decodes the member entry at key into m, refusing one that
// makes no sense.
func decodeMember(key string, b []byte, m *Member) error {
	if err := json.Unmarshal(b, m); err != nil {
		return fmt.Errorf("registry: malformed member entry: %w", err)
	}
	if err := m.check(); err != nil {
		return fmt.Errorf("registry: member entry refused: %w", err)
	}
	if key != m.key() {
		return fmt.Errorf("registry: member entry at %s names %s", key, m.key())
	}
	return nil
}

// holders is a claim record: slots held by foreman id.
type holders map[string]int

// maxHolders bounds the foremen one claim record may name.
const maxHolders = 1024

// decodeHolders reads a claim record, refusing one that makes no sense.
func decodeHolders(b []byte) (holders, error) {
	var h holders
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("registry: bad claim record: %w", err)
	}
	if len(h) > maxHolders {
		return nil, fmt.Errorf("registry: claim record names %d foremen, over %d", len(h), maxHolders)
	}
	for f, n := range h {
		if !names.ValidID(f) || n < 1 || n > MaxCapacity {
			return nil, fmt.Errorf("registry: claim record gives %q %d slots", f, n)
		}
	}
	return h, nil
}

func claimKey(workmanID string) string { return "claim." + workmanID }

// Claim is the share of a workman's slots a foreman holds.
type Claim struct {
	WorkmanID string
	Slots     int
}

// ErrClaimLost reports a claim that expired and was taken by another
// foreman meanwhile, so it cannot be held again.
var ErrClaimLost = errors.New("registry: claim lost")

// errConflict makes a compare-and-set loop read again.
var errConflict = errors.New("registry: claim record changed")

// update applies change to a workman's claim record by compare-and-set,
// reading again while others change it. change gets the record with dead
// foremen's shares dropped and returns false to leave it as it is.
func (r *Registry) update(ctx context.Context, workmanID string, change func(h holders) (bool, error)) error {
	key := claimKey(workmanID)
	for {
		var rev uint64
		h := holders{}
		e, err := r.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("registry: read claims of %s: %w", workmanID, err)
		default:
			rev = e.Revision()
			if Alive(e.Created(), r.now(), r.lease) {
				if h, err = decodeHolders(e.Value()); err != nil {
					h = holders{} // a bad record frees the workman
				}
			}
		}
		for f := range h {
			if !r.foremanAlive(ctx, f) {
				delete(h, f)
			}
		}
		ok, err := change(h)
		if err != nil || !ok {
			return err
		}
		b, _ := json.Marshal(h)
		switch {
		case rev == 0:
			_, err = r.kv.Create(ctx, key, b)
		case len(h) == 0:
			err = r.kv.Delete(ctx, key, jetstream.LastRevision(rev))
		default:
			_, err = r.kv.Update(ctx, key, b, rev)
		}
		if streams.IsConflict(err) {
			continue // someone else changed it first: read again
		}
		if err != nil {
			return fmt.Errorf("registry: write claims of %s: %w", workmanID, r.unavailable(err))
		}
		return nil
	}
}

// foremanAlive reports whether a foreman's entry is within its lease.
func (r *Registry) foremanAlive(ctx context.Context, id string) bool {
	e, err := r.kv.Get(ctx, RoleForeman+"."+id)
	return err == nil && Alive(e.Created(), r.now(), r.lease)
}

// Claim claims up to want free slots of workman m for foremanID (every
// free slot if want <= 0) and returns how many it got: 0 if none is free.
// A foreman that holds some already gets more on top.
func (r *Registry) Claim(ctx context.Context, m Member, foremanID string, want int) (Claim, error) {
	c := Claim{WorkmanID: m.ID}
	if m.Role != RoleWorkman {
		return c, fmt.Errorf("registry: %s %s is not a workman", m.Role, m.ID)
	}
	if err := m.check(); err != nil {
		return c, fmt.Errorf("registry: workman %s: %w", m.ID, err)
	}
	// Most workmen are unclaimed: try to create the record first, and read
	// it only if it is there.
	c.Slots = m.Capacity
	if want > 0 {
		c.Slots = min(c.Slots, want)
	}
	b, _ := json.Marshal(holders{foremanID: c.Slots})
	_, err := r.kv.Create(ctx, claimKey(m.ID), b)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return Claim{WorkmanID: m.ID}, fmt.Errorf("registry: write claims of %s: %w", m.ID, err)
	}
	err = r.update(ctx, m.ID, func(h holders) (bool, error) {
		free := m.Capacity
		for _, n := range h {
			free -= n
		}
		if want > 0 {
			free = min(free, want)
		}
		if free <= 0 {
			c.Slots = 0
			return false, nil
		}
		h[foremanID] += free
		c.Slots = free
		return true, nil
	})
	return c, err
}

// Refresh renews a claim: it writes the claim record again, which renews
// its lease, and puts the foreman's share back if it was gone (the park
// server restarted with an empty registry, or the lease ran out) and the
// slots are still free. It fails with ErrClaimLost if another foreman
// holds them now.
func (r *Registry) Refresh(ctx context.Context, c Claim, foremanID string) error {
	return r.update(ctx, c.WorkmanID, func(h holders) (bool, error) {
		if h[foremanID] == c.Slots {
			return true, nil
		}
		taken := 0
		for f, n := range h {
			if f != foremanID {
				taken += n
			}
		}
		if r.capacity(ctx, c.WorkmanID)-taken < c.Slots {
			return false, fmt.Errorf("%w: %d slots of %s", ErrClaimLost, c.Slots, c.WorkmanID)
		}
		h[foremanID] = c.Slots
		return true, nil
	})
}

// capacity returns a workman's advertised capacity, or MaxCapacity if its
// entry cannot be read now (the park restarted and it has not re-registered
// yet): then only the other foremen's shares bound a re-claim.
func (r *Registry) capacity(ctx context.Context, workmanID string) int {
	e, err := r.kv.Get(ctx, RoleWorkman+"."+workmanID)
	if err != nil {
		return MaxCapacity
	}
	var m Member
	if json.Unmarshal(e.Value(), &m) != nil || !m.valid() {
		return 0
	}
	return m.Capacity
}

// Release gives a foreman's share of a workman back. It reads the record
// and removes the share only if the foreman still holds it, so it is right
// whatever refreshes ran before.
func (r *Registry) Release(ctx context.Context, c Claim, foremanID string) error {
	return r.update(ctx, c.WorkmanID, func(h holders) (bool, error) {
		if _, ok := h[foremanID]; !ok {
			return false, nil
		}
		delete(h, foremanID)
		return true, nil
	})
}

// info reads the bucket's stream as its leader reports it.
func (r *Registry) info(ctx context.Context) (bucketInfo, error) {
	st, err := r.kv.Status(ctx)
	if err != nil {
		return bucketInfo{}, fmt.Errorf("registry: bucket status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return bucketInfo{}, errors.New("registry: bucket status without stream info")
	}
	return bucketInfo{bs.StreamInfo(), bs.Metadata()[restartedKey] == "true"}, nil
}

// bucketInfo is the bucket's stream as its leader reports it.
type bucketInfo struct {
	*jetstream.StreamInfo
	restarted bool
}

// age returns how long the bucket has existed on the park's clock, and
// whether a restarted park created it.
func (b bucketInfo) age() (time.Duration, bool) {
	return b.TimeStamp.Sub(b.Created), b.restarted
}

// Status reads the bucket's status: an error if the bucket is gone.
func (r *Registry) Status(ctx context.Context) (jetstream.KeyValueStatus, error) {
	return r.kv.Status(ctx)
}

// Keys of the bucket's metadata that carry the park's trust.
const (
	operatorKey = "fourinone_operator_jwt"
	accountKey  = "fourinone_account_jwt"
	systemKey   = "fourinone_system_jwt"
)

// Trust returns the operator's and account's JWTs the park verifies
// credentials with, or nil if the park takes a token (or nothing).
func (r *Registry) Trust(ctx context.Context) (*security.Trust, error) {
	st, err := r.kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("registry: bucket status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return nil, errors.New("registry: bucket status without stream info")
	}
	md := bs.Metadata()
	if md[operatorKey] == "" {
		return nil, nil
	}
	t := &security.Trust{Operator: md[operatorKey], Account: md[accountKey], System: md[systemKey]}
	if _, _, err := t.Claims(); err != nil {
		return nil, fmt.Errorf("registry: the park's trust: %w", err)
	}
	return t, nil
}

// WatchClaim calls changed (on a goroutine of its own, one call at a time)
// each time the claim record of a workman is written or deleted, with the
// holders it was written with (live foremen only), until stop is called.
// The holders come from the write itself: a read right after the
// notification may not see it yet. It listens to the bucket's subject for
// the key with a plain subscription, which costs the park no JetStream
// consumer and outlives reconnections.
func (r *Registry) WatchClaim(workmanID string, changed func(ctx context.Context, holders map[string]int)) (stop func(), err error) {
	sub, err := r.nc.Subscribe(r.subject(claimKey(workmanID)), func(m *nats.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), r.HeartbeatInterval())
		defer cancel()
		h := holders{}
		if m.Header.Get("KV-Operation") == "" {
			var err error
			if h, err = decodeHolders(m.Data); err != nil {
				return
			}
		}
		for f := range h {
			if !r.foremanAlive(ctx, f) {
				delete(h, f)
			}
		}
		changed(ctx, h)
	})
	if err != nil {
		return nil, fmt.Errorf("registry: watch claims of %s: %w", workmanID, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Holders returns the foremen holding slots of a workman, with their
// slots, live foremen only: what a workman checks its running tasks
// against.
func (r *Registry) Holders(ctx context.Context, workmanID string) (map[string]int, error) {
	e, err := r.kv.Get(ctx, claimKey(workmanID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return map[string]int{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("registry: read claims of %s: %w", workmanID, err)
	}
	h := holders{}
	if Alive(e.Created(), r.now(), r.lease) {
		if h, err = decodeHolders(e.Value()); err != nil {
			return nil, err
		}
	}
	for f := range h {
		if !r.foremanAlive(ctx, f) {
			delete(h, f)
		}
	}
	return h, nil
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
