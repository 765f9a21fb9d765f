// Package parkserver is the park server: an embedded NATS server with
// JetStream that holds the registry of workmen and foremen.
//
// Workmen and foremen connect to the park server's NATS URL, register in the
// registry (a JetStream key/value bucket whose TTL is the lease) and
// heartbeat; a member that stops heartbeating leaves the registry when its
// lease runs out (3 s by default). In hub mode the park server's NATS also
// carries the tasks.
//
// Lifecycle: New, then Start (or Run, which starts, waits for ctx and shuts
// down), then Shutdown.
package parkserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/security"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// SyncAlways is the Config.Sync that syncs the store after every write.
const SyncAlways = wire.SyncAlways

// ParseSync reads a Config.Sync as the -sync flag gives it: "always" or
// a positive duration ("1s").
func ParseSync(v string) (time.Duration, error) {
	if v == "always" {
		return SyncAlways, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("sync %q: want always or a positive duration", v)
	}
	return d, nil
}

// ErrConfig is wrapped by every Config.Validate error.
var ErrConfig = errors.New("parkserver: invalid config")

// DefaultClusterLease is the registry's lease in a cluster: longer than
// NATS's election after the abrupt loss of a stream's leader (4-9 s), so
// no member leaves the registry while its heartbeats wait for one.
const DefaultClusterLease = 10 * time.Second

// DefaultListen is the park server's default address.
const DefaultListen = "127.0.0.1:4222"

// Config configures a park server.
type Config struct {
	// Listen is the NATS host:port; port 0 picks a free port. If blank, it
	// defaults to DefaultListen.
	Listen string
	// StoreDir is the JetStream store directory. If blank, a temporary
	// directory is used and removed at Shutdown.
	StoreDir string
	// Sync is how often the store's files are synced to disk: SyncAlways
	// after every write (a machine that loses power loses no acknowledged
	// write), else every Sync. If zero, every 2 minutes (JetStream's
	// default: a process killed loses nothing, a machine that loses power
	// the writes of up to the last 2 minutes). See docs/operations.md.
	Sync time.Duration
	// Name names the server (required in a cluster).
	Name string
	// Cluster, if set, is this server's cluster host:port, and Routes the
	// route URLs of the cluster's servers (nats-route://host:port, the same
	// list on every server, its own included): the park servers
	// form a NATS cluster with JetStream, and keep the registry and the job
	// center with Replicas copies.
	Cluster string
	Routes  []string
	// ClusterTLS, if set, makes the routes between park servers TLS only:
	// each presents Cert and requires its peers' certificates signed by
	// CA (all three are needed).
	ClusterTLS security.TLS
	// ClusterSecret, if set, is required of every route: a server without
	// it is not let into the cluster. Every server of the cluster has the
	// same one.
	ClusterSecret string
	// Replicas is how many servers keep each bucket and stream; if 0, 3 in
	// a cluster of 3 or more, else 1.
	Replicas int
	// Token, if set, is required of every connection: for one machine.
	Token string
	// AuthDir, if set, is a directory made by `parkserver creds init`:
	// every connection then presents a credential of its account, and
	// can do what its role allows (see security). Not with Token.
	AuthDir string
	// TLS, if it has a certificate, makes the listener TLS only (with
	// Verify, clients must present certificates signed by TLS.CA).
	TLS security.TLS
	// Lease is how long a member stays registered after its last heartbeat.
	// If zero, it defaults to 3s.
	Lease time.Duration
	// Retention is how long the job center keeps a final Work (done,
	// failed or cancelled) with its input and result. If zero, 24 h.
	Retention time.Duration
	// HTTP is the dashboard's host:port (/, /api/registry, /metrics,
	// /healthz); a blank host is 127.0.0.1. If blank, there is no
	// dashboard.
	HTTP string
	// HTTPToken is the dashboard's admin token: if set, everything but
	// /healthz requires it (as a bearer token). A dashboard off loopback
	// needs one.
	HTTPToken string
	// HTTPStreams bounds the dashboards open at once (their /api/events
	// streams); one more gets 503. If zero, it defaults to
	// DefaultHTTPStreams.
	HTTPStreams int
	// Logger receives the server's logs. If nil, nothing is logged.
	Logger *zap.Logger
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.Lease < 0 || (c.Lease > 0 && c.Lease < 100*time.Millisecond) {
		return fmt.Errorf("%w: lease %v is below 100ms", ErrConfig, c.Lease)
	}
	if c.Retention < 0 {
		return fmt.Errorf("%w: retention %v is negative", ErrConfig, c.Retention)
	}
	switch {
	case c.Cluster != "" && c.Name == "":
		return fmt.Errorf("%w: a park server in a cluster needs a -name", ErrConfig)
	case c.Name != "" && !names.ValidID(c.Name):
		return fmt.Errorf("%w: %v", ErrConfig, names.ID("name", c.Name))
	case c.Cluster == "" && len(c.Routes) > 0:
		return fmt.Errorf("%w: -routes without -cluster", ErrConfig)
	case c.Cluster == "" && (c.ClusterTLS.Enabled() || c.ClusterSecret != ""):
		return fmt.Errorf("%w: the routes' TLS or secret without -cluster", ErrConfig)
	case c.ClusterTLS.Enabled() && (c.ClusterTLS.Cert == "" || c.ClusterTLS.Key == "" || c.ClusterTLS.CA == ""):
		return fmt.Errorf("%w: TLS between park servers needs -cluster-tls-cert, -cluster-tls-key and -cluster-tls-ca", ErrConfig)
	case c.Sync < 0 && c.Sync != SyncAlways:
		return fmt.Errorf("%w: sync interval %v is negative", ErrConfig, c.Sync)
	case c.HTTPStreams < 0:
		return fmt.Errorf("%w: %d event streams: want 1 or more (0: %d)", ErrConfig, c.HTTPStreams, DefaultHTTPStreams)
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("%w: replicas %d: want 1 to 5", ErrConfig, c.Replicas)
	case c.Cluster == "" && c.Replicas > 1:
		return fmt.Errorf("%w: %d replicas on one server: give -cluster and -routes", ErrConfig, c.Replicas)
	}
	return nil
}

// Server is a park server. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	log *zap.Logger

	mu       sync.Mutex // guards ns, nc, tempDir, stopped
	ns       *server.Server
	nc       *nats.Conn
	tempDir  string
	viewMu   sync.Mutex // guards viewJSON and viewAt: see clusterJSON
	viewJSON []byte
	viewAt   time.Time
	reg      *registry.Registry
	http     *http.Server
	httpAdr  net.Addr
	stopped  bool

	stopJanitor context.CancelFunc // stops the janitor and the live view
	janitorDone chan struct{}
	// liveDone closes when the live view's reads end: they may wait on
	// the connection (a JetStream consumer being re-created after a server
	// of a cluster died), so they are waited for once it is closed.
	liveDone chan struct{}
	live     *live
}

// janitor deletes the job center's final Works past their retention, every
// minute (or retention, if shorter), until ctx ends.
func (s *Server) janitor(ctx context.Context, js jetstream.JetStream) {
	t := time.NewTicker(min(time.Minute, s.cfg.Retention))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := jobcenter.Clean(ctx, js, s.cfg.Retention)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("job center: delete works past their retention", zap.Error(err))
		} else if n > 0 {
			s.log.Info("job center: deleted works past their retention", zap.Int("works", n))
		}
	}
}

// New returns a park server that is not yet started.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Lease == 0 {
		cfg.Lease = registry.DefaultLease
		if cfg.Cluster != "" {
			cfg.Lease = DefaultClusterLease
		}
	}
	if cfg.Retention == 0 {
		cfg.Retention = jobcenter.DefaultRetention
	}
	if cfg.HTTPStreams == 0 {
		cfg.HTTPStreams = DefaultHTTPStreams
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Server{cfg: cfg, log: cfg.Logger}, nil
}

// Start starts the NATS server and creates the registry.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns != nil || s.stopped {
		return errors.New("parkserver: already started")
	}
	dir := s.cfg.StoreDir
	// A store that JetStream used before means this park ran before: its
	// members may hold claims that the new registry does not know.
	_, err := os.Stat(filepath.Join(dir, "jetstream"))
	restarted := dir != "" && err == nil
	if dir == "" {
		d, err := os.MkdirTemp("", "fourinone-park-")
		if err != nil {
			return fmt.Errorf("parkserver: store dir: %w", err)
		}
		dir, s.tempDir = d, d
	}
	// A single park server's store joining a cluster: JetStream would
	// delete its streams (they are not the cluster's), so it is moved
	// aside and imported once the cluster's are there.
	standalone := ""
	if s.cfg.Cluster != "" && s.cfg.StoreDir != "" {
		if standalone, err = setAsideStandalone(dir); err != nil {
			return err
		}
		restarted = restarted || standalone != ""
	}
	var trust *security.Trust
	own := wire.ConnOptions{Name: "parkserver", Security: security.Config{Token: s.cfg.Token}}
	if s.cfg.AuthDir != "" {
		t, err := security.LoadTrust(s.cfg.AuthDir)
		if err != nil {
			s.removeTemp()
			return fmt.Errorf("parkserver: %w", err)
		}
		trust, own.Security.Creds = &t, filepath.Join(s.cfg.AuthDir, security.ParkCredsFile)
	}
	ns, err := wire.StartServer(wire.ServerConfig{
		Listen: s.cfg.Listen, Token: s.cfg.Token, Trust: trust, TLS: s.cfg.TLS, JetStream: true, StoreDir: dir, Sync: s.cfg.Sync,
		Logger: s.log, Name: s.cfg.Name, Cluster: s.cfg.Cluster, Routes: s.cfg.Routes,
		ClusterTLS: s.cfg.ClusterTLS, ClusterSecret: s.cfg.ClusterSecret,
	})
	if err != nil {
		s.removeTemp()
		return fmt.Errorf("parkserver: %w", err)
	}
	nc, err := wire.ConnectInProcess(ns, own)
	if err != nil {
		s.stopLocked()
		return fmt.Errorf("parkserver: connect to own server: %w", err)
	}
	s.ns, s.nc = ns, nc
	if _, err := nc.Subscribe(wire.ClusterSubject, s.answerCluster); err != nil {
		s.stopLocked()
		return fmt.Errorf("parkserver: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		s.stopLocked()
		return fmt.Errorf("parkserver: %w", err)
	}
	replicas := s.replicas()
	if s.cfg.Cluster != "" {
		// The other servers keep the registry while this one restarts: it
		// has forgotten nothing unless the whole cluster stopped.
		t0 := time.Now()
		if exists, err := s.waitJetStream(ctx, js); err != nil {
			s.stopLocked()
			return err
		} else if exists {
			restarted = false
		}
		s.log.Info("the cluster's JetStream answers", zap.Duration("after", time.Since(t0)))
	}
	err = s.retryCluster(ctx, s.cfg.Cluster != "", func(ctx context.Context) (err error) {
		s.reg, err = registry.Create(ctx, js, registry.Setup{Lease: s.cfg.Lease, Restarted: restarted, Trust: trust, Replicas: replicas})
		if err != nil {
			return err
		}
		if err := registry.SetupJobs(ctx, js, replicas); err != nil {
			return err
		}
		if err := registry.SetupTimelines(ctx, js, replicas); err != nil {
			return err
		}
		if err := jobcenter.Setup(ctx, js, replicas); err != nil {
			return err
		}
		return park.Setup(ctx, js, replicas)
	})
	if err != nil {
		s.stopLocked()
		return fmt.Errorf("parkserver: %w", err)
	}
	if standalone != "" {
		if err := s.importStandalone(ctx, js, standalone, trust, own); err != nil {
			s.stopLocked()
			return err
		}
	}
	jctx, stopJanitor := context.WithCancel(context.Background())
	s.stopJanitor, s.janitorDone = stopJanitor, make(chan struct{})
	s.live = newLive(jctx, s, js)
	reg := s.reg
	s.liveDone = make(chan struct{})
	go func() {
		defer close(s.liveDone)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); s.live.watch(jctx) }()
		go func() { defer wg.Done(); s.live.members(jctx, reg) }()
		wg.Wait()
	}()
	go func() { defer close(s.janitorDone); s.janitor(jctx, js) }()
	if s.cfg.HTTP != "" {
		if s.http, s.httpAdr, err = s.startHTTP(s.cfg.HTTP); err != nil {
			s.stopLocked()
			return err
		}
	}
	s.log.Info("park server ready", zap.String("url", ns.ClientURL()), zap.String("store", dir),
		zap.Duration("lease", s.cfg.Lease), zap.String("name", s.cfg.Name), zap.Int("replicas", replicas))
	return nil
}

// standaloneDir is where a single park server's store goes, in its store
// directory, when that server joins a cluster: it is imported from there
// (and renamed standaloneDir + ".imported-<time>" once it is). Its
// members may hold claims the new registry does not know: the park counts
// as restarted.
const standaloneDir = "standalone"

// setAsideStandalone moves a JetStream store kept by a single server (it
// has no meta group: no "_meta_" directory) aside for an import, and
// returns where it is now. It also returns the directory of a store set
// aside earlier and not imported yet (the import was cut short), or "" if
// there is nothing to import.
func setAsideStandalone(dir string) (string, error) {
	aside := filepath.Join(dir, standaloneDir)
	if _, err := os.Stat(aside); err == nil {
		return aside, nil // even before the cluster's store is there: a stop right after the move
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		return "", nil // a new store
	}
	metas, err := filepath.Glob(filepath.Join(dir, "jetstream", "*", "_js_", "_meta_"))
	if err != nil || len(metas) > 0 {
		return "", err
	}
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return "", fmt.Errorf("parkserver: set a single server's store aside: %w", err)
	}
	if err := os.Rename(filepath.Join(dir, "jetstream"), filepath.Join(aside, "jetstream")); err != nil {
		return "", fmt.Errorf("parkserver: set a single server's store aside: %w", err)
	}
	return aside, nil
}

// importStandalone opens a single server's store set aside (on a server
// of its own, on loopback, in no cluster) and imports its durable Works
// into the cluster's job center.
func (s *Server) importStandalone(ctx context.Context, js jetstream.JetStream, dir string, trust *security.Trust, own wire.ConnOptions) error {
	t0 := time.Now()
	n, err := s.importFrom(ctx, js, dir, trust, own)
	if err != nil {
		return fmt.Errorf("parkserver: import the single server's store (%s; it is kept there, and imported again at the next start): %w", dir, err)
	}
	done := fmt.Sprintf("%s.imported-%s", dir, time.Now().UTC().Format("20060102T150405"))
	if err := os.Rename(dir, done); err != nil {
		return fmt.Errorf("parkserver: %w", err)
	}
	s.log.Info("imported a single park server's durable works into the cluster", zap.Int("works", n),
		zap.Duration("took", time.Since(t0)), zap.String("kept", done))
	return nil
}

// importFrom runs the import from the store in dir, on a server of its
// own that is stopped when it returns.
func (s *Server) importFrom(ctx context.Context, js jetstream.JetStream, dir string, trust *security.Trust, own wire.ConnOptions) (n int, err error) {
	old, err := wire.StartServer(wire.ServerConfig{Token: s.cfg.Token, Trust: trust, JetStream: true, StoreDir: dir, Logger: s.log.Named("standalone")})
	if err != nil {
		return 0, err
	}
	defer func() { old.Shutdown(); old.WaitForShutdown() }()
	nc, err := wire.ConnectInProcess(old, own)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	from, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	err = s.retryCluster(ctx, true, func(ctx context.Context) (err error) {
		n, err = jobcenter.Import(ctx, from, js)
		return err
	})
	return n, err
}

// replicas is how many servers keep each bucket and stream: Config.Replicas,
// or 3 in a cluster of 3 or more (the distinct routes: the list names
// every server, this one too), else 1.
func (s *Server) replicas() int {
	if s.cfg.Replicas > 0 {
		return s.cfg.Replicas
	}
	servers := map[string]bool{}
	for _, r := range s.cfg.Routes {
		if u, err := url.Parse(r); err == nil {
			servers[u.Host] = true
		}
	}
	if s.cfg.Cluster != "" && len(servers) >= 3 {
		return 3
	}
	return 1
}

// clusterWait is how long a park server in a cluster waits for JetStream
// to be ready (its peers up, a meta leader elected) at start.
const clusterWait = 2 * time.Minute

// waitJetStream waits until the cluster's JetStream answers, and reports
// whether the registry bucket exists already (kept by the other servers).
func (s *Server) waitJetStream(ctx context.Context, js jetstream.JetStream) (bool, error) {
	var exists bool
	err := s.retryCluster(ctx, true, func(ctx context.Context) error {
		_, err := js.KeyValue(ctx, registry.Bucket)
		switch {
		case err == nil:
			exists = true
			return nil
		case errors.Is(err, jetstream.ErrBucketNotFound):
			return nil
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("parkserver: the cluster's JetStream is not ready: %w", err)
	}
	return exists, nil
}

// retryCluster runs f until it succeeds; in a cluster, errors while
// JetStream elects its leaders or waits for peers are retried for up to
// clusterWait, each try given a few seconds (a request nobody leads goes
// unanswered).
func (s *Server) retryCluster(ctx context.Context, clustered bool, f func(context.Context) error) error {
	deadline := time.Now().Add(clusterWait)
	said := time.Now()
	for {
		tctx, cancel := ctx, context.CancelFunc(func() {})
		if clustered {
			tctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		}
		err := f(tctx)
		cancel()
		if err == nil || !clustered || time.Now().After(deadline) {
			return err
		}
		if time.Since(said) > 10*time.Second {
			s.log.Warn("waiting for the cluster", zap.Error(err))
			said = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (the last try: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ClientURL returns the URL members connect to; it is blank before Start.
func (s *Server) ClientURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// slowConsumers returns how many connections the NATS server cut off as
// slow consumers since it started.
func (s *Server) slowConsumers() (int64, bool) {
	s.mu.Lock()
	ns := s.ns
	s.mu.Unlock()
	if ns == nil {
		return 0, false
	}
	v, err := ns.Varz(nil)
	if err != nil {
		return 0, false
	}
	return v.SlowConsumers, true
}

// HTTPAddr returns the dashboard's address, or nil without one.
func (s *Server) HTTPAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpAdr
}

// Snapshot returns the live members and claims.
func (s *Server) Snapshot(ctx context.Context) (*registry.Snapshot, error) {
	s.mu.Lock()
	reg := s.reg
	s.mu.Unlock()
	if reg == nil {
		return nil, errors.New("parkserver: not started")
	}
	return reg.Snapshot(ctx)
}

// Run starts the server, serves until ctx ends, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Shutdown(context.Background())
}

// Shutdown stops the server: first the dashboard, then its own client connection, then the
// NATS server (which closes members' connections), then it removes a
// temporary store. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Cluster != "" && s.ns != nil && !s.stopped {
		// Hand JetStream leadership to the others and move clients over
		// before going: nothing pauses for an election.
		s.stopJanitorLocked()
		if s.nc != nil {
			s.nc.Close()
			s.nc = nil
		}
		s.waitLiveLocked()
		s.ns.LameDuckShutdown()
	}
	s.stopLocked()
	return nil
}

// waitLiveLocked waits for the live view's reads, once the janitor's
// context is cancelled and the connection closed.
func (s *Server) waitLiveLocked() {
	if s.liveDone != nil {
		<-s.liveDone
		s.liveDone = nil
	}
}

func (s *Server) stopJanitorLocked() {
	if s.stopJanitor != nil {
		s.stopJanitor()
		<-s.janitorDone
		s.stopJanitor = nil
	}
}

func (s *Server) stopLocked() {
	s.stopped = true
	s.stopJanitorLocked()
	if s.http != nil {
		_ = s.http.Close()
		s.http = nil
	}
	if s.nc != nil {
		s.nc.Close()
		s.nc = nil
	}
	s.waitLiveLocked()
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.log.Info("park server stopped")
	}
	s.removeTemp()
}

func (s *Server) removeTemp() {
	if s.tempDir != "" {
		if err := os.RemoveAll(s.tempDir); err != nil {
			s.log.Warn("remove temporary store", zap.Error(err))
		}
		s.tempDir = ""
	}
}
