package workman

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fourinone-go/fourinone/internal/metrics"
	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/tracing"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// Worker is the user's code a workman runs.
//
// DoTask is called by foremen, at most Config.Capacity calls at once; a
// returned error or a panic becomes an exception result carrying its
// message. Receive is called by other workers (through Peer.Receive), on
// goroutines of its own that never wait behind a DoTask, so workers that
// are all inside DoTask can exchange data without deadlock. Both must be
// safe for concurrent use. Inside either, MeshFrom(ctx) reaches the other
// workers.
type Worker interface {
	DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error)
	Receive(ctx context.Context, from Peer, in *warehouse.Warehouse) error
}

// WorkerFunc adapts a function to a Worker that only does tasks; its
// Receive refuses every call.
type WorkerFunc func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error)

// DoTask calls f.
func (f WorkerFunc) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	return f(ctx, in)
}

// Receive returns an error: a WorkerFunc takes no worker-to-worker data.
func (f WorkerFunc) Receive(context.Context, Peer, *warehouse.Warehouse) error {
	return errors.New("workman: this worker does not receive")
}

// Modes.
const (
	ModeMesh = registry.ModeMesh // serve on the workman's own NATS server
	ModeHub  = registry.ModeHub  // serve on the park server's NATS
)

// ErrConfig is wrapped by every Config.Validate error.
var ErrConfig = errors.New("workman: invalid config")

// Config configures a workman.
type Config struct {
	// Type is the worker type foremen ask for (letters, digits, '-' and
	// '_', at most 64); required.
	Type string
	// ParkURL is the park server's NATS URL. If blank, it defaults to
	// nats://127.0.0.1:4222.
	ParkURL string
	// Security is how the workman authenticates to the park server and to
	// peers, and the TLS of its links; its mesh-mode listener requires the
	// same of whoever connects (the same token, or credentials of the
	// park's account), with the same TLS certificate.
	Security security.Config
	// Mode is ModeMesh or ModeHub. If blank, it defaults to ModeMesh.
	Mode string
	// Listen is the mesh-mode listener's host:port. If blank, it defaults
	// to 127.0.0.1:0 (a free port). Ignored in hub mode.
	Listen string
	// Advertise is the host:port foremen and peers dial to reach the
	// mesh-mode listener, for a listener on 0.0.0.0 or behind a NAT. If
	// blank, the listener's own address.
	Advertise string
	// Capacity is how many DoTask calls run at once; more wait their turn.
	// If zero, it defaults to 2.
	Capacity int
	// ID identifies the workman in the registry: letters, digits, '-' and
	// '_', at most 128. If blank, a UUID.
	ID string
	// MaxWarehouseSize bounds an encoded Warehouse in or out. If zero, it
	// defaults to warehouse.DefaultMaxSize.
	MaxWarehouseSize int
	// Budget bounds the bytes of requests (DoTask and Receive) the workman
	// holds at once: arriving, waiting for a slot and running, each counted
	// at its size plus wire.RequestOverhead. A request past it gets a busy
	// reply, which a foreman's Run treats as a full slot (the task waits or
	// goes elsewhere) and Peer.Receive retries. If zero, it defaults to
	// Capacity × MaxWarehouseSize.
	Budget int64
	// PeerTimeout bounds a Peer.Receive call made from this workman, so a
	// peer that is stopped or unreachable fails the call instead of hanging
	// it. If zero, it defaults to 30s.
	PeerTimeout time.Duration
	// DataDir is the directory the worker's files are read in
	// (splitter.OpenRange refuses any path outside it, after resolving
	// ".." and symbolic links). If blank, the working directory.
	DataDir string
	// Logger receives logs. If nil, nothing is logged.
	Logger *zap.Logger
	// Metrics, if set, gets the workman's Prometheus metrics (see
	// docs/operations.md).
	Metrics prometheus.Registerer
}

// Validate checks the config.
func (c Config) Validate() error {
	switch {
	case c.Type == "":
		return fmt.Errorf("%w: a worker type is required", ErrConfig)
	case !names.ValidType(c.Type):
		return fmt.Errorf("%w: %v", ErrConfig, names.Type("type", c.Type))
	case c.ID != "" && !names.ValidID(c.ID):
		return fmt.Errorf("%w: %v", ErrConfig, names.ID("id", c.ID))
	case c.Mode != "" && c.Mode != ModeMesh && c.Mode != ModeHub:
		return fmt.Errorf("%w: mode %q is neither %q nor %q", ErrConfig, c.Mode, ModeMesh, ModeHub)
	case c.Capacity < 0:
		return fmt.Errorf("%w: capacity %d is negative", ErrConfig, c.Capacity)
	case c.MaxWarehouseSize < 0:
		return fmt.Errorf("%w: max warehouse size %d is negative", ErrConfig, c.MaxWarehouseSize)
	case c.Budget < 0:
		return fmt.Errorf("%w: budget %d is negative", ErrConfig, c.Budget)
	case c.PeerTimeout < 0:
		return fmt.Errorf("%w: peer timeout %v is negative", ErrConfig, c.PeerTimeout)
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.ParkURL == "" {
		c.ParkURL = "nats://127.0.0.1:4222"
	}
	if c.Mode == "" {
		c.Mode = ModeMesh
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Capacity == 0 {
		c.Capacity = 2
	}
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	if c.MaxWarehouseSize == 0 {
		c.MaxWarehouseSize = warehouse.DefaultMaxSize
	}
	if c.Budget == 0 {
		c.Budget = int64(c.Capacity) * int64(c.MaxWarehouseSize)
	}
	if c.PeerTimeout == 0 {
		c.PeerTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
}

// Workman runs a Worker: it registers in the park, heartbeats, and serves
// DoTask and Receive. Its methods are safe for concurrent use.
type Workman struct {
	cfg     Config
	worker  Worker
	log     *zap.Logger
	slots   chan struct{}    // one token per running DoTask
	done    atomic.Int64     // DoTasks answered
	failed  atomic.Int64     // of which exceptions
	metrics *metrics.Workman // set in New

	mu      sync.Mutex // guards the fields below
	started bool
	stopped bool
	park    *nats.Conn
	reg     *registry.Registry
	own     *server.Server // mesh mode's listener
	serveNC *nats.Conn     // the connection tasks arrive on
	srv     *wire.Server
	pool    *wire.Pool
	self    registry.Member
	hbStop  context.CancelFunc
	hbDone  chan struct{}

	tmu      sync.Mutex                                  // guards running, orphaned, unwatch
	unwatch  func()                                      // stops the claim watch, if one runs
	running  map[string]map[*int]context.CancelCauseFunc // running tasks by foreman id
	orphaned map[string]time.Time                        // foremen with tasks here and no claim, since when
}

// New returns a workman for w that is not yet started.
func New(cfg Config, w Worker) (*Workman, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w == nil {
		return nil, fmt.Errorf("%w: nil Worker", ErrConfig)
	}
	// A credential names its holder: the workman runs under that name.
	var err error
	if cfg.ID, err = cfg.Security.MemberID(cfg.ID, security.RoleWorkman); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	cfg.setDefaults()
	// A token written in the park's URL must not be advertised (hub mode)
	// or logged, and guards the mesh listener like one given apart.
	if cfg.ParkURL, err = cfg.Security.TakeURL(cfg.ParkURL); err != nil {
		return nil, fmt.Errorf("%w: park URL: %v", ErrConfig, err)
	}
	if err := cfg.Security.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if cfg.Mode == ModeMesh && cfg.Security.TLS.Enabled() && cfg.Security.TLS.Cert == "" {
		return nil, fmt.Errorf("%w: a TLS mesh listener needs -tls-cert and -tls-key", ErrConfig)
	}
	wm := &Workman{
		cfg: cfg, worker: w, log: cfg.Logger.With(zap.String("workman", cfg.ID), zap.String("type", cfg.Type)),
		slots:   make(chan struct{}, cfg.Capacity),
		running: make(map[string]map[*int]context.CancelCauseFunc), orphaned: make(map[string]time.Time),
	}
	wm.metrics = metrics.NewWorkman(cfg.Metrics, cfg.ID, cfg.Type, func() int { return len(wm.slots) }, cfg.Capacity)
	return wm, nil
}

// Run starts a workman for w, serves until ctx ends, then shuts it down,
// giving running tasks up to 5 s to finish.
func Run(ctx context.Context, cfg Config, w Worker) error {
	wm, err := New(cfg, w)
	if err != nil {
		return err
	}
	if err := wm.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return wm.Shutdown(sctx)
}

// ID returns the workman's id.
func (wm *Workman) ID() string { return wm.cfg.ID }

// Budget returns the bytes of requests the workman holds at most
// (Config.Budget, or its default).
func (wm *Workman) Budget() int64 { return wm.cfg.Budget }

// Endpoint returns where the workman serves: a NATS URL and subject prefix.
// It is blank before Start.
func (wm *Workman) Endpoint() (url, subject string) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	return wm.self.Endpoint.URL, wm.self.Endpoint.Subject
}

// Start connects to the park server (waiting for it until ctx ends), starts
// serving and registers.
func (wm *Workman) Start(ctx context.Context) (err error) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	if wm.started {
		return errors.New("workman: already started")
	}
	wm.started = true
	defer func() {
		if err != nil {
			wm.closeLocked(context.Background())
		}
	}()
	opts := wire.ConnOptions{Security: wm.cfg.Security, Name: "workman " + wm.cfg.ID, Member: wm.cfg.ID}
	if wm.park, err = wire.Connect(wm.cfg.ParkURL, opts); err != nil {
		return fmt.Errorf("workman: park server: %w", err)
	}
	if wm.reg, err = registry.OpenLogged(ctx, wm.park, wm.log); err != nil {
		return fmt.Errorf("workman: %w", err)
	}
	prefix := wire.WorkmanPrefix(wm.cfg.ID)
	ep := registry.Endpoint{URL: wm.cfg.ParkURL, Subject: prefix, Mode: wm.cfg.Mode}
	wm.pool = wire.NewPool(opts, wm.cfg.MaxWarehouseSize)
	wm.serveNC = wm.park
	if wm.cfg.Mode == ModeMesh {
		// The listener takes what the park takes: its token, or credentials
		// of its account (verified with the park's trust).
		trust, err := wm.reg.Trust(ctx)
		if err != nil {
			return fmt.Errorf("workman: %w", err)
		}
		if (trust == nil) != (wm.cfg.Security.Creds == "") {
			return fmt.Errorf("%w: the park server and this workman disagree on per-role credentials (-creds, parkserver -auth)", ErrConfig)
		}
		wm.own, err = wire.StartServer(wire.ServerConfig{Listen: wm.cfg.Listen, Token: wm.cfg.Security.Token, Trust: trust,
			TLS: wm.cfg.Security.TLS, Logger: wm.log})
		if err != nil {
			return fmt.Errorf("workman: listener: %w", err)
		}
		ep.URL = wm.own.ClientURL()
		if wm.cfg.Advertise != "" {
			ep.URL = "nats://" + wm.cfg.Advertise
		}
		if wm.serveNC, err = wire.ConnectInProcess(wm.own, opts); err != nil {
			return fmt.Errorf("workman: connect to own listener: %w", err)
		}
	} else {
		// Peers in hub mode are on the park connection too.
		c, err := wire.NewClient(wm.park, wm.cfg.MaxWarehouseSize)
		if err != nil {
			return fmt.Errorf("workman: %w", err)
		}
		wm.pool.Share(wm.cfg.ParkURL, c)
	}
	wm.srv = wire.NewServer(wm.serveNC, wire.Limits{MaxSize: wm.cfg.MaxWarehouseSize, Budget: wm.cfg.Budget}, wm.log)
	for subj, h := range map[string]wire.Handler{
		wire.TaskSubject(prefix):    wm.serveTask,
		wire.ReceiveSubject(prefix): wm.serveReceive,
	} {
		if err := wm.srv.Handle(subj, h); err != nil {
			return fmt.Errorf("workman: %w", err)
		}
	}
	if err := wm.srv.HandleCancel(wire.CancelSubject(prefix)); err != nil {
		return fmt.Errorf("workman: %w", err)
	}
	if err := wm.serveNC.Flush(); err != nil {
		return fmt.Errorf("workman: %w", err)
	}
	host, _ := os.Hostname()
	wm.self = registry.Member{
		ID: wm.cfg.ID, Role: registry.RoleWorkman, Type: wm.cfg.Type, Endpoint: ep,
		Capacity: wm.cfg.Capacity, State: registry.StateWaiting, Host: host, PID: os.Getpid(),
		Started: time.Now().UTC(),
	}
	if err := wm.reg.Register(ctx, &wm.self, wm.log); err != nil {
		return fmt.Errorf("workman: register: %w", err)
	}
	hbCtx, stop := context.WithCancel(context.Background())
	wm.hbStop, wm.hbDone = stop, make(chan struct{})
	self := wm.self
	go func() {
		defer close(wm.hbDone)
		wm.reg.HeartbeatUnacked(hbCtx, func() registry.Member { return wm.state(self) }, wm.log, func(ctx context.Context, alive time.Time) {
			if alive.IsZero() {
				wm.metrics.HeartbeatFailed()
			}
			wm.checkOrphans(ctx, alive)
		})
	}()
	wm.log.Info("workman serving", zap.String("mode", ep.Mode), zap.String("url", ep.URL),
		zap.Int("capacity", wm.cfg.Capacity))
	return nil
}

// Shutdown leaves the registry, stops taking calls, lets running calls
// finish until ctx ends (then cancels them), and closes the connections and
// the listener, in that order. It is safe to call twice.
func (wm *Workman) Shutdown(ctx context.Context) error {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	wm.closeLocked(ctx)
	return nil
}

func (wm *Workman) closeLocked(ctx context.Context) {
	if wm.stopped {
		return
	}
	wm.stopped = true
	if wm.hbStop != nil {
		wm.hbStop()
		<-wm.hbDone
	}
	wm.tmu.Lock()
	if wm.unwatch != nil {
		wm.unwatch()
		wm.unwatch = nil
	}
	wm.tmu.Unlock()
	if wm.reg != nil && wm.self.ID != "" {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := wm.reg.Delete(dctx, &wm.self); err != nil {
			wm.log.Warn("leave registry", zap.Error(err))
		}
		cancel()
	}
	if wm.srv != nil {
		wm.srv.Close(ctx)
	}
	if wm.pool != nil {
		wm.pool.Close()
	}
	if wm.serveNC != nil && wm.serveNC != wm.park {
		_ = wm.serveNC.Drain()
		wm.serveNC.Close()
	}
	if wm.park != nil {
		wm.park.Close()
	}
	if wm.own != nil {
		wm.own.Shutdown()
		wm.own.WaitForShutdown()
	}
	wm.log.Info("workman stopped")
}

// serveTask runs one DoTask. It decodes the task only once it has a slot,
// so at most Capacity decodings run at once.
func (wm *Workman) serveTask(ctx context.Context, req wire.Request) (out []byte, err error) {
	select {
	case wm.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, wire.Unavailable(fmt.Errorf("workman %s: cancelled while queued: %w", wm.cfg.ID, ctx.Err()))
	}
	defer func() { <-wm.slots }()
	start := time.Now()
	if foreman := string(req.Meta); foreman != "" {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer wm.track(foreman, cancel)()
	}
	if tracing.Traced(ctx) { // its foreman traces this task
		var span trace.Span
		ctx, span = wm.span(ctx, "DoTask", len(req.Body))
		defer func() { endSpan(span, err) }()
	}
	in, err := warehouse.Decode(req.Body)
	if err != nil {
		return nil, fmt.Errorf("workman %s: %w", wm.cfg.ID, err)
	}
	ctx = splitter.WithDataDir(withMesh(ctx, wm.newMesh()), wm.cfg.DataDir)
	res := wm.call("DoTask", func() (*warehouse.Warehouse, error) { return wm.worker.DoTask(ctx, in) })
	wm.done.Add(1)
	outcome := "ok"
	if res.Status() == warehouse.StatusException {
		wm.failed.Add(1)
		outcome = "exception"
		trace.SpanFromContext(ctx).SetStatus(codes.Error, res.Message()) // if traced
	}
	if ctx.Err() != nil {
		// Cancelled by the caller or by Shutdown: whatever the task made of
		// it is not its result. The caller may run it elsewhere.
		wm.metrics.Task("cancelled", time.Since(start), len(req.Body), 0)
		return nil, wire.Unavailable(fmt.Errorf("workman %s: task cancelled: %w", wm.cfg.ID, ctx.Err()))
	}
	out = wm.encode(res)
	wm.metrics.Task(outcome, time.Since(start), len(req.Body), len(out))
	return out, nil
}

// state is the workman's registry entry m as of now: busy with how many
// tasks for which foremen, and how many it has done.
func (wm *Workman) state(m registry.Member) registry.Member {
	m.Busy, m.Done, m.Failed = len(wm.slots), wm.done.Load(), wm.failed.Load()
	wm.tmu.Lock()
	m.For = slices.Sorted(maps.Keys(wm.running))
	wm.tmu.Unlock()
	if m.Busy > 0 {
		m.State = registry.StateBusy
	}
	return m
}

// track records a running task of a foreman, so that it can be cancelled
// if the foreman's claim goes; the returned func forgets it.
func (wm *Workman) track(foreman string, cancel context.CancelCauseFunc) func() {
	key := new(int)
	wm.tmu.Lock()
	if wm.unwatch == nil && wm.reg != nil {
		// Check for orphans each time the claim record changes, while
		// tasks run: a foreman claiming slots that a dead foreman's tasks
		// still use gets them at once.
		unwatch, err := wm.reg.WatchClaim(wm.cfg.ID, wm.cancelOrphans)
		if err != nil {
			wm.log.Warn("cannot watch this workman's claims; orphans are checked at each heartbeat", zap.Error(err))
		} else {
			wm.unwatch = unwatch
		}
	}
	if wm.running[foreman] == nil {
		wm.running[foreman] = make(map[*int]context.CancelCauseFunc)
	}
	wm.running[foreman][key] = cancel
	wm.tmu.Unlock()
	return func() {
		wm.tmu.Lock()
		delete(wm.running[foreman], key)
		if len(wm.running[foreman]) == 0 {
			delete(wm.running, foreman)
			delete(wm.orphaned, foreman)
		}
		wm.tmu.Unlock()
		cancel(nil)
	}
}

// errOrphaned cancels the tasks of a foreman that no longer holds a claim.
var errOrphaned = errors.New("workman: the foreman's claim on this worker is gone")

// checkOrphans runs at each heartbeat and each change of this workman's
// claim record: it cancels the running tasks of a foreman that holds no
// claim on this workman (it died and its lease ran out, it lost the claim,
// or it released the worker), so a slot another foreman claims is free. It
// cancels them at once when another foreman holds slots here; when nobody
// does, after two heartbeats (a park restarted without its store forgets
// claims, and their foremen re-create them within one). A park that cannot
// be read decides nothing.
func (wm *Workman) checkOrphans(ctx context.Context, _ time.Time) {
	wm.tmu.Lock()
	n := len(wm.running)
	if n == 0 && wm.unwatch != nil {
		wm.unwatch() // idle: heartbeats check when tasks run again
		wm.unwatch = nil
	}
	wm.tmu.Unlock()
	if n == 0 {
		return
	}
	holders, err := wm.reg.Holders(ctx, wm.cfg.ID)
	if err != nil {
		return
	}
	wm.cancelOrphans(ctx, holders)
}

// cancelOrphans cancels the running tasks of foremen that are not among
// holders (see checkOrphans).
func (wm *Workman) cancelOrphans(_ context.Context, holders map[string]int) {
	now := time.Now()
	wm.tmu.Lock()
	defer wm.tmu.Unlock()
	for foreman, tasks := range wm.running {
		if holders[foreman] > 0 {
			delete(wm.orphaned, foreman)
			continue
		}
		since, ok := wm.orphaned[foreman]
		if !ok {
			wm.orphaned[foreman], since = now, now
		}
		if len(holders) > 0 || now.Sub(since) >= 2*wm.reg.HeartbeatInterval() {
			wm.log.Warn("cancelling the tasks of a foreman whose claim is gone",
				zap.String("foreman", foreman), zap.Int("tasks", len(tasks)))
			for _, cancel := range tasks {
				cancel(errOrphaned)
			}
		}
	}
}

// serveReceive runs one Receive; its reply is an empty Warehouse, or an
// exception with the error.
func (wm *Workman) serveReceive(ctx context.Context, req wire.Request) (out []byte, err error) {
	if tracing.Traced(ctx) { // its sender traces it
		var span trace.Span
		ctx, span = wm.span(ctx, "Receive", len(req.Body))
		defer func() { endSpan(span, err) }()
	}
	from, err := decodePeer(req.Meta)
	if err != nil {
		return nil, fmt.Errorf("workman %s: %w", wm.cfg.ID, err)
	}
	in, err := warehouse.Decode(req.Body)
	if err != nil {
		return nil, fmt.Errorf("workman %s: %w", wm.cfg.ID, err)
	}
	m := wm.newMesh()
	from.mesh = m
	ctx = splitter.WithDataDir(withMesh(ctx, m), wm.cfg.DataDir)
	res := wm.call("Receive", func() (*warehouse.Warehouse, error) {
		return nil, wm.worker.Receive(ctx, from, in)
	})
	if res.Status() == warehouse.StatusException {
		trace.SpanFromContext(ctx).SetStatus(codes.Error, res.Message()) // if traced
	}
	return wm.encode(res), nil
}

// span starts the server span of a call whose caller traces it.
func (wm *Workman) span(ctx context.Context, name string, size int) (context.Context, trace.Span) {
	return tracing.Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("fourinone.worker", wm.cfg.ID), attribute.String("fourinone.worker.type", wm.cfg.Type),
		attribute.Int("fourinone.bytes_in", size)))
}

// endSpan ends a call's server span; a refusal is an error (an
// exception result set its status already).
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// call runs user code, turning an error or a panic into an exception
// Warehouse. It never returns nil.
func (wm *Workman) call(what string, f func() (*warehouse.Warehouse, error)) (out *warehouse.Warehouse) {
	defer func() {
		if r := recover(); r != nil {
			// The stack once: not the logger's own stacktrace as well.
			wm.log.WithOptions(zap.AddStacktrace(zap.FatalLevel+1)).Error(what+" panicked",
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			out = warehouse.NewException(fmt.Sprintf("%s panicked: %v", what, r))
		}
	}()
	out, err := f()
	switch {
	case err != nil:
		return warehouse.NewException(err.Error())
	case out == nil:
		return warehouse.New()
	}
	return out
}

// encode encodes a result; a result over the size limit becomes an
// exception saying so.
func (wm *Workman) encode(out *warehouse.Warehouse) []byte {
	b, _ := out.MarshalBinary()
	if len(b) > wm.cfg.MaxWarehouseSize {
		err := &warehouse.SizeError{Size: int64(len(b)), Limit: int64(wm.cfg.MaxWarehouseSize)}
		b, _ = warehouse.NewException("result: " + err.Error()).MarshalBinary()
	}
	return b
}
