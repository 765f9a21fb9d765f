// Package wire is the framework's protocol: the embedded NATS servers, the
// connection options every role uses, the subjects, and the framed, chunked
// request/reply that carries Warehouses between foremen and workers.
//
// It is internal so that the protocol can change without breaking the public
// API.
package wire

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/security"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// ServerMaxPayload is the largest NATS message the framework's embedded
// servers accept. Bigger Warehouses travel in chunks of at most this size.
const ServerMaxPayload = 8 << 20

// serverMaxPending bounds what a server buffers for one slow client. It must
// exceed the largest Warehouse with room to spare, since a whole chunked
// Warehouse may be in flight to one client.
const serverMaxPending = 256 << 20

// SyncAlways is the ServerConfig.Sync that syncs JetStream's files after
// every write.
const SyncAlways time.Duration = -1

// ServerConfig configures an embedded NATS server.
type ServerConfig struct {
	// Listen is host:port; port 0 picks a free port. If blank, it defaults to
	// 127.0.0.1:0.
	Listen string
	// Token, if set, is required of every client.
	Token string
	// TLS, if it has a certificate, makes the listener TLS only (and with
	// Verify, requires client certificates).
	TLS security.TLS
	// Trust, if set, puts the server in operator mode: clients present
	// user credentials of the trusted account (see security), verified
	// offline; Token must then be blank.
	Trust *security.Trust
	// Name names the server; required in a cluster.
	Name string
	// Cluster, if set, is the host:port this server takes routes from
	// other servers of its cluster on; Routes are those servers' route
	// URLs (nats-route://host:port), this one's own may be among them.
	Cluster string
	Routes  []string
	// ClusterTLS, if set, makes the routes TLS only: each server presents
	// Cert and requires its peers' certificates, signed by CA (all three
	// are needed).
	ClusterTLS security.TLS
	// ClusterSecret, if set, is required of every route: a server dials
	// its routes with it and refuses a route that lacks it.
	ClusterSecret string
	// JetStream enables JetStream with its store in StoreDir.
	JetStream bool
	// StoreDir is the JetStream store directory; required with JetStream.
	StoreDir string
	// Sync is how JetStream syncs its files to disk: SyncAlways after
	// every write, else every Sync (if zero, JetStream's default, every 2
	// minutes). A write is acknowledged once the operating system has it:
	// a process that dies loses none, a machine that loses power the
	// writes since the last sync.
	Sync time.Duration
	// Logger receives the server's notices and errors. If nil, the server
	// logs nothing.
	Logger *zap.Logger
}

// StartServer starts an embedded NATS server and waits until it accepts
// connections. The caller shuts it down with Shutdown and WaitForShutdown.
func StartServer(cfg ServerConfig) (*server.Server, error) {
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		Host:          host,
		Port:          port,
		Authorization: cfg.Token,
		NoSigs:        true,
		MaxPayload:    ServerMaxPayload,
		MaxPending:    serverMaxPending,
		// A member's CONNECT line carries its credential's JWT, which lists
		// the subjects of its role: a foreman's passed NATS's default of
		// 4 KiB once its jobs' subjects were added.
		MaxControlLine: 16 << 10,
		JetStream:      cfg.JetStream,
		StoreDir:       cfg.StoreDir,
		SyncInterval:   max(cfg.Sync, 0),
		SyncAlways:     cfg.Sync == SyncAlways,
		// One server per process, but several per test binary: keep
		// JetStream's default resource checks off the shared disk total.
		JetStreamMaxMemory: 1 << 30,
		JetStreamMaxStore:  8 << 30,
		WriteDeadline:      10 * time.Second,
	}
	if !cfg.JetStream {
		opts.JetStreamMaxMemory, opts.JetStreamMaxStore = 0, 0
	}
	if cfg.Cluster != "" {
		if cfg.Name == "" {
			return nil, fmt.Errorf("%w: a server in a cluster needs a name", security.ErrConfig)
		}
		chost, cport, err := net.SplitHostPort(cfg.Cluster)
		if err != nil {
			return nil, fmt.Errorf("cluster address %q: %w", cfg.Cluster, err)
		}
		p, err := strconv.Atoi(cport)
		if err != nil || p <= 0 || p > 65535 {
			return nil, fmt.Errorf("cluster address %q: bad port", cfg.Cluster)
		}
		opts.ServerName = cfg.Name
		opts.Cluster = server.ClusterOpts{Name: "fourinone", Host: chost, Port: p}
		if opts.Routes, err = routeURLs(cfg.Routes, cfg.ClusterSecret); err != nil {
			return nil, err
		}
		if cfg.ClusterSecret != "" {
			opts.Cluster.Username, opts.Cluster.Password = routeUser, cfg.ClusterSecret
		}
		if cfg.ClusterTLS.Enabled() {
			if opts.Cluster.TLSConfig, err = routeTLS(cfg.ClusterTLS); err != nil {
				return nil, err
			}
			opts.Cluster.TLSTimeout = 5
		}
		// A clean stop hands leadership over, then closes clients over a
		// few seconds (see Server.LameDuckShutdown).
		opts.LameDuckDuration, opts.LameDuckGracePeriod = 3*time.Second, time.Second
	} else if cfg.Name != "" {
		opts.ServerName = cfg.Name
	}
	if cfg.Trust != nil {
		if cfg.Token != "" {
			return nil, fmt.Errorf("%w: a token and per-role credentials: give one", security.ErrConfig)
		}
		oc, ac, err := cfg.Trust.Claims()
		if err != nil {
			return nil, err
		}
		res := &server.MemAccResolver{}
		if err := res.Store(ac.Subject, cfg.Trust.Account); err != nil {
			return nil, err
		}
		if err := res.Store(oc.SystemAccount, cfg.Trust.System); err != nil {
			return nil, err
		}
		opts.TrustedOperators, opts.AccountResolver, opts.SystemAccount = []*jwt.OperatorClaims{oc}, res, oc.SystemAccount
	}
	if cfg.TLS.Cert != "" || cfg.TLS.Key != "" {
		tc, err := cfg.TLS.ServerConfig()
		if err != nil {
			return nil, err
		}
		opts.TLSConfig, opts.TLSVerify, opts.TLSTimeout = tc, cfg.TLS.Verify, 5
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	// The server reports what stops it from starting (a port in use) as a
	// fatal error and goes on waiting; fatal carries it here.
	fatal := make(chan string, 1)
	s.SetLoggerV2(serverLogger{l: log.Sugar(), fatal: fatal}, false, false, false)
	s.Start()
	// A server of a cluster is ready once its routes are up too: its peers
	// may take a while to start.
	wait := 10 * time.Second
	if cfg.Cluster != "" {
		wait = time.Minute
	}
	deadline := time.Now().Add(wait)
	for !s.ReadyForConnections(100 * time.Millisecond) {
		var why string
		select {
		case why = <-fatal:
		default:
			if time.Now().After(deadline) {
				why = fmt.Sprintf("not ready for connections after %v", wait)
			}
		}
		if why != "" {
			s.Shutdown()
			s.WaitForShutdown()
			return nil, fmt.Errorf("nats server on %s: %s", listen, why)
		}
	}
	return s, nil
}

// routeUser is the user a route authenticates as, with the cluster's
// secret for its password.
const routeUser = "park"

// routeURLs parses a cluster's route URLs, with secret written into each.
// A route URL that carries credentials of its own is refused: the secret
// is given apart, never in a URL that shows in ps or a log.
func routeURLs(routes []string, secret string) ([]*url.URL, error) {
	var out []*url.URL
	for _, r := range routes {
		u, err := url.Parse(strings.TrimSpace(r))
		if err != nil || u.Scheme != "nats-route" || u.Port() == "" {
			return nil, fmt.Errorf("%w: route %s: want nats-route://host:port", security.ErrConfig, security.Redact(r))
		}
		if u.User != nil {
			return nil, fmt.Errorf("%w: route %s has credentials in it: give the cluster's secret apart", security.ErrConfig, security.Redact(r))
		}
		if secret != "" {
			u.User = url.UserPassword(routeUser, secret)
		}
		out = append(out, u)
	}
	return out, nil
}

// routeTLS is the tls.Config of a cluster's routes: a route is a server
// and a client at once, each side verifying the other against the CA.
func routeTLS(t security.TLS) (*tls.Config, error) {
	if t.Cert == "" || t.Key == "" || t.CA == "" {
		return nil, fmt.Errorf("%w: TLS between park servers needs a certificate, its key and the CA that signs every server's certificate", security.ErrConfig)
	}
	t.Verify = true
	tc, err := t.ServerConfig()
	if err != nil {
		return nil, err
	}
	tc.RootCAs = tc.ClientCAs
	return tc, nil
}

// serverLogger adapts zap to the NATS server's Logger.
type serverLogger struct {
	l     *zap.SugaredLogger
	fatal chan<- string
}

// Noticef logs the server's notices at DEBUG, except slow consumers (a
// client cut off because it read too slowly), which are a WARN: the client
// loses its calls in flight.
func (l serverLogger) Noticef(format string, v ...any) {
	if strings.Contains(format, "Slow Consumer") {
		l.l.Warnf(format, v...)
		return
	}
	l.l.Debugf(format, v...)
}
func (l serverLogger) Warnf(format string, v ...any) { l.l.Warnf(format, v...) }
func (l serverLogger) Fatalf(format string, v ...any) {
	l.l.Errorf(format, v...)
	select {
	case l.fatal <- fmt.Sprintf(format, v...):
	default:
	}
}

// Errorf logs the server's errors, but a failed dial of a cluster route
// (a peer not up yet, or down: the server keeps trying) is a WARN without
// a stack.
func (l serverLogger) Errorf(format string, v ...any) {
	if strings.Contains(format, "Error trying to connect to route") {
		l.l.Desugar().WithOptions(zap.AddStacktrace(zap.FatalLevel)).Sugar().Warnf(format, v...)
		return
	}
	l.l.Errorf(format, v...)
}
func (l serverLogger) Debugf(format string, v ...any) {}
func (l serverLogger) Tracef(format string, v ...any) {}
