package foreman

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fourinone-go/fourinone/internal/metrics"
	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

var (
	// ErrNoWorkers reports that no waiting worker of the asked type could
	// be claimed.
	ErrNoWorkers = errors.New("foreman: no waiting workers")
	// ErrClosed reports a call on a closed Foreman.
	ErrClosed = errors.New("foreman: closed")
	// ErrBusy reports a task the worker did not take because its request
	// budget was full (see workman.Config.Budget): nothing ran, and the
	// same task may succeed later. Run waits and retries such tasks itself.
	ErrBusy = errors.New("foreman: worker busy")
)

// TaskError is an exception result: the worker's DoTask returned an error
// or panicked. Msg is the worker's message.
type TaskError struct {
	Task     int    // the task's number in its job (from 0), or -1 outside Run
	WorkerID string // the workman that ran it
	Msg      string
}

func (e *TaskError) Error() string {
	if e.Task < 0 {
		return fmt.Sprintf("foreman: task on worker %s failed: %s", e.WorkerID, e.Msg)
	}
	return fmt.Sprintf("foreman: task %d on worker %s failed: %s", e.Task, e.WorkerID, e.Msg)
}

// Config configures a Foreman.
type Config struct {
	// ID identifies the foreman in the registry: letters, digits, '-' and
	// '_', at most 128. If blank, a UUID.
	ID string
	// Security is how the foreman authenticates to the park server and to
	// the workers' listeners (mesh mode), and their TLS.
	Security security.Config
	// MaxWarehouseSize bounds an encoded Warehouse in or out. If zero, it
	// defaults to warehouse.DefaultMaxSize.
	MaxWarehouseSize int
	// Logger receives logs. If nil, nothing is logged.
	Logger *zap.Logger
	// Metrics, if set, gets the foreman's Prometheus metrics (see
	// docs/operations.md).
	Metrics prometheus.Registerer
}

// Foreman gets workers from the park and hands them tasks. It is safe for
// concurrent use.
type Foreman struct {
	cfg     Config
	idBytes []byte     // cfg.ID, the meta of every task
	nc      *nats.Conn // the park connection
	ownsNC  bool
	reg     *registry.Registry
	hub     *wire.Client // calls to hub-mode workers, on nc
	pool    *wire.Pool   // connections to mesh-mode workers
	log     *zap.Logger
	self    registry.Member
	hbStop  context.CancelFunc
	hbDone  chan struct{}

	metrics         *metrics.Foreman // nil without Config.Metrics
	refreshFailures atomic.Int64
	logWait         atomic.Bool // the current wait for a restarted park's claims was logged

	mu        sync.Mutex                         // guards the fields below
	claims    map[string]*held                   // held claims by workman id
	jobs      []string                           // the jobs Run runs
	cancels   map[string]context.CancelCauseFunc // by job
	cancelSub *nats.Subscription                 // takes cancels of jobs, once one ran
	alive     time.Time                          // when the last registration that succeeded started
	closed    bool
}

// held is a claim and when it was last confirmed: when the registry write
// that created or renewed it (or, if earlier, the foreman's own
// registration) started. Nobody else can get its slots within a lease of
// that, so the foreman uses them only within a lease of that.
type held struct {
	registry.Claim
	confirmed time.Time
}

// New returns a Foreman using nc, a connection to the park server, which it
// registers on and heartbeats until Close. The Foreman takes over nc's
// disconnect and closed handlers (calls to hub-mode workers in flight fail
// when nc drops) but does not close nc.
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Foreman, error) {
	if cfg.MaxWarehouseSize < 0 {
		return nil, fmt.Errorf("foreman: max warehouse size %d is negative", cfg.MaxWarehouseSize)
	}
	if err := cfg.resolveID(); err != nil {
		return nil, err
	}
	if cfg.MaxWarehouseSize == 0 {
		cfg.MaxWarehouseSize = warehouse.DefaultMaxSize
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	reg, err := registry.OpenLogged(ctx, nc, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("foreman: %w", err)
	}
	hub, err := wire.NewClient(nc, cfg.MaxWarehouseSize)
	if err != nil {
		return nil, fmt.Errorf("foreman: %w", err)
	}
	host, _ := os.Hostname()
	f := &Foreman{
		cfg: cfg, idBytes: []byte(cfg.ID), nc: nc, reg: reg, hub: hub, log: cfg.Logger.With(zap.String("foreman", cfg.ID)),
		pool:   wire.NewPool(wire.ConnOptions{Security: cfg.Security, Name: "foreman " + cfg.ID, Member: cfg.ID}, cfg.MaxWarehouseSize),
		claims: make(map[string]*held), cancels: make(map[string]context.CancelCauseFunc),
		self: registry.Member{ID: cfg.ID, Role: registry.RoleForeman, State: registry.StateWaiting,
			Host: host, PID: os.Getpid(), Started: time.Now().UTC()},
	}
	f.alive = time.Now()
	f.metrics = metrics.NewForeman(cfg.Metrics, cfg.ID, f.claimedSlots, func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.jobs)
	})
	if err := reg.Register(ctx, &f.self, f.log); err != nil {
		hub.Close()
		return nil, fmt.Errorf("foreman: register: %w", err)
	}
	hbCtx, stop := context.WithCancel(context.Background())
	f.hbStop, f.hbDone = stop, make(chan struct{})
	go func() {
		defer close(f.hbDone)
		reg.Heartbeat(hbCtx, f.state, f.log, func(ctx context.Context, alive time.Time) {
			if alive.IsZero() {
				f.metrics.HeartbeatFailed()
			}
			f.refreshClaims(ctx, alive)
		})
	}()
	return f, nil
}

// resolveID checks the config's ID, takes its credential's name if it has
// one, or makes a UUID.
func (c *Config) resolveID() error {
	if c.ID != "" && !names.ValidID(c.ID) {
		return fmt.Errorf("foreman: %w", names.ID("id", c.ID))
	}
	id, err := c.Security.MemberID(c.ID, security.RoleForeman)
	if err != nil {
		return fmt.Errorf("foreman: %w", err)
	}
	c.ID = id
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	return nil
}

// Dial connects to the park server at url and returns a Foreman that owns
// the connection and closes it in Close. cfg.Security is used for the park
// server too.
func Dial(ctx context.Context, url string, cfg Config) (*Foreman, error) {
	if err := cfg.resolveID(); err != nil {
		return nil, err
	}
	nc, err := wire.Connect(url, wire.ConnOptions{Security: cfg.Security, Name: "foreman " + cfg.ID, Member: cfg.ID})
	if err != nil {
		return nil, fmt.Errorf("foreman: park server: %w", err)
	}
	f, err := New(ctx, nc, cfg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	f.ownsNC = true
	return f, nil
}

// claimedSlots counts the workers' slots the foreman holds.
func (f *Foreman) claimedSlots() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, h := range f.claims {
		n += h.Slots
	}
	return n
}

// ID returns the foreman's id.
func (f *Foreman) ID() string { return f.cfg.ID }

// refreshClaims renews every held claim. A claim that was lost (the park
// forgot it, and another foreman took the slots meanwhile) is dropped, so
// Run stops sending tasks to that worker; a failed refresh is logged and
// counted (RefreshFailures) and tried again at the next heartbeat.
func (f *Foreman) refreshClaims(ctx context.Context, alive time.Time) {
	f.mu.Lock()
	if !alive.IsZero() {
		f.alive = alive
	}
	hs := slices.Collect(maps.Values(f.claims))
	f.mu.Unlock()
	for _, h := range hs {
		err := f.reg.Refresh(ctx, h.Claim, f.cfg.ID)
		switch {
		case errors.Is(err, registry.ErrClaimLost):
			f.log.Warn("claim lost: the worker leaves this foreman's jobs", zap.Error(err))
			f.mu.Lock()
			if f.claims[h.WorkmanID] == h {
				delete(f.claims, h.WorkmanID)
			}
			f.mu.Unlock()
		case err != nil && ctx.Err() == nil:
			f.refreshFailures.Add(1)
			f.log.Warn("claim refresh failed", zap.String("worker", h.WorkmanID), zap.Error(err))
		case err == nil && !alive.IsZero():
			f.mu.Lock()
			h.confirmed = alive // the registration started before the refresh
			f.mu.Unlock()
		}
	}
}

// RefreshFailures returns how many claim refreshes failed (the park was
// unreachable or slow) since the Foreman started.
func (f *Foreman) RefreshFailures() int64 { return f.refreshFailures.Load() }

// holds reports whether the foreman holds a claim on a workman.
func (f *Foreman) holds(workmanID string) bool {
	held, _ := f.claimed(workmanID)
	return held
}

// claimed reports whether the foreman holds a claim on a workman, and
// whether it was confirmed within a lease, so its slots are still its own
// even if the park forgot it (a claim the foreman could not renew for a
// lease is not fresh: another foreman may hold the slots now).
func (f *Foreman) claimed(workmanID string) (held, fresh bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.claims[workmanID]
	return ok, ok && time.Since(h.confirmed) < f.reg.Lease()
}

// GetWaitingWorkers claims up to n waiting workers of type typ (all it can
// get if n <= 0) and returns them at once, possibly fewer than n. Each
// worker comes with the free slots of its capacity that this foreman
// claimed (one registry write per worker), so two foremen never hold the
// same slot. Claims are held until Release or Close, or until the foreman
// stops heartbeating. For a lease after a park server restarted on its
// store it claims nothing, so that earlier holders get their workers back
// first.
func (f *Foreman) GetWaitingWorkers(ctx context.Context, typ string, n int) ([]*Workman, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	snap, err := f.reg.Snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("foreman: %w", err)
	}
	if snap.ClaimsOpenIn > 0 {
		// The park restarted: the foremen that held workers before get
		// them back first.
		if f.logWait.CompareAndSwap(false, true) {
			f.log.Info("the park restarted: new claims wait until earlier holders have re-created theirs", zap.Duration("wait", snap.ClaimsOpenIn))
		}
		return nil, nil
	}
	f.logWait.Store(false) // said again after another restart
	var free []registry.Member
	for _, m := range snap.Workmen(typ) {
		// Busy or not: its free slots are what counts.
		serving := m.State == registry.StateWaiting || m.State == registry.StateBusy
		if serving && !f.holds(m.ID) && snap.Claimed(m.ID) < m.Capacity {
			free = append(free, m)
		}
	}
	// Claims are written in waves of up to claimsInFlight at once (each a
	// round trip to the park), never more than are still wanted.
	var out []*Workman
	for len(free) > 0 && (n <= 0 || len(out) < n) {
		k := min(len(free), claimsInFlight)
		if n > 0 {
			k = min(k, n-len(out))
		}
		wave := free[:k]
		free = free[k:]
		got := make([]registry.Claim, len(wave))
		errs := make([]error, len(wave))
		var wg sync.WaitGroup
		for i, m := range wave {
			wg.Go(func() { got[i], errs[i] = f.reg.Claim(ctx, m, f.cfg.ID, 0) })
		}
		wg.Wait()
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			for i := range got {
				if errs[i] != nil {
					got[i].Slots = 0
				}
			}
			f.releaseAll(got)
			return nil, ErrClosed
		}
		for i, m := range wave {
			if c := got[i]; errs[i] == nil && c.Slots > 0 {
				// Our registration started before this claim: the earlier time.
				f.claims[m.ID] = &held{Claim: c, confirmed: f.alive}
				out = append(out, &Workman{ID: m.ID, Type: m.Type, Slots: c.Slots, Endpoint: m.Endpoint.URL,
					subject: m.Endpoint.Subject, mode: m.Endpoint.Mode, f: f})
			}
		}
		f.mu.Unlock()
		if err := errors.Join(errs...); err != nil {
			return out, fmt.Errorf("foreman: %w", err)
		}
	}
	return out, nil
}

// claimsInFlight bounds the claims GetWaitingWorkers writes at once.
const claimsInFlight = 32

// WaitWorkers claims waiting workers of type typ until it holds n of them
// or ctx ends, polling the registry every 100ms. When ctx ends it returns
// the workers it holds with a nil error, or ErrNoWorkers if it holds none.
func (f *Foreman) WaitWorkers(ctx context.Context, typ string, n int) ([]*Workman, error) {
	var out []*Workman
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		got, err := f.GetWaitingWorkers(ctx, typ, n-len(out))
		out = append(out, got...)
		if err != nil && ctx.Err() == nil {
			f.Release(context.Background(), out...)
			return nil, err
		}
		if len(out) >= n {
			return out, nil
		}
		select {
		case <-ctx.Done():
			if len(out) == 0 {
				return nil, fmt.Errorf("%w of type %q", ErrNoWorkers, typ)
			}
			return out, nil
		case <-t.C:
		}
	}
}

// releaseAll gives claims back, claimsInFlight at a time.
func (f *Foreman) releaseAll(cs []registry.Claim) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sem := make(chan struct{}, claimsInFlight)
	var wg sync.WaitGroup
	for _, c := range cs {
		if c.Slots == 0 {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f.reg.Release(ctx, c, f.cfg.ID); err != nil {
				f.log.Warn("release claim", zap.Error(err))
			}
		})
	}
	wg.Wait()
}

// Release gives the workers' slots back to the park.
func (f *Foreman) Release(ctx context.Context, ws ...*Workman) {
	var cs []registry.Claim
	f.mu.Lock()
	for _, w := range ws {
		if h, ok := f.claims[w.ID]; ok {
			cs = append(cs, h.Claim)
			delete(f.claims, w.ID)
		}
	}
	f.mu.Unlock()
	f.releaseAll(cs)
}

// Close releases every claim, leaves the registry and closes the
// connections to workers (and the park connection, if Dial opened it), in
// that order. It is safe to call twice.
func (f *Foreman) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	var cs []registry.Claim
	for _, h := range f.claims {
		cs = append(cs, h.Claim)
	}
	f.claims = nil
	if f.cancelSub != nil {
		_ = f.cancelSub.Unsubscribe()
	}
	f.mu.Unlock()
	f.hbStop()
	<-f.hbDone
	f.releaseAll(cs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := f.reg.Delete(ctx, &f.self); err != nil {
		f.log.Warn("leave registry", zap.Error(err))
	}
	f.pool.Close()
	f.hub.Close()
	if f.ownsNC {
		f.nc.Close()
	}
	return nil
}
