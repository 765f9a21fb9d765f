// Package parktest starts park servers, workmen and foremen in-process for
// tests, on 127.0.0.1 with free ports, and stops them with t.Cleanup.
package parktest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// StartPark starts a park server with cfg; a blank Listen becomes
// 127.0.0.1:0, a blank StoreDir a test temp dir.
func StartPark(t testing.TB, cfg parkserver.Config) *parkserver.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("park")
	}
	s, err := parkserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// StartCluster starts n park servers with cfg as one cluster (free ports,
// a store each; cfg.Listen, StoreDir, Name, Cluster and Routes are set for
// each) and returns them with the URL list clients take. It returns once
// every server is ready: the cluster's JetStream elected its leaders.
func StartCluster(t testing.TB, n int, cfg parkserver.Config) ([]*parkserver.Server, string) {
	t.Helper()
	stores := make([]string, n)
	for i := range stores {
		stores[i] = t.TempDir()
	}
	return StartClusterOn(t, stores, cfg)
}

// StartClusterOn is StartCluster with the servers' stores given: one per
// server (a store a single park server kept, to upgrade it to a cluster).
func StartClusterOn(t testing.TB, stores []string, cfg parkserver.Config) ([]*parkserver.Server, string) {
	t.Helper()
	n := len(stores)
	cluster := make([]string, n)
	var routes []string
	for i := range cluster {
		cluster[i] = FreeAddr(t)
		routes = append(routes, "nats-route://"+cluster[i])
	}
	parks := make([]*parkserver.Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range parks {
		c := cfg
		c.Listen, c.StoreDir, c.Name, c.Cluster, c.Routes = "127.0.0.1:0", stores[i], fmt.Sprintf("p%d", i+1), cluster[i], routes
		if c.Logger == nil {
			c.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named(c.Name)
		}
		s, err := parkserver.New(c)
		if err != nil {
			t.Fatal(err)
		}
		parks[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			errs[i] = s.Start(ctx)
		}()
	}
	wg.Wait()
	var urls []string
	for i, s := range parks {
		t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		urls = append(urls, s.ClientURL())
	}
	return parks, strings.Join(urls, ",")
}

// FreeAddr returns a 127.0.0.1 address with a port free a moment ago, for
// a server started after it. The port lies below the kernel's ephemeral
// range, when there is room, so that no outgoing connection (of this or
// another test's process) can be given it in the meantime; a port from
// the range was taken by a connection of a test running beside it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	low := ephemeralLow()
	for range 100 {
		if low <= minPort {
			break
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", minPort+rand.IntN(low-minPort)))
		if err == nil {
			defer ln.Close()
			return ln.Addr().String()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// minPort is the lowest port FreeAddr picks: above those of well-known
// services.
const minPort = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, or 0.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return n
}

// StartWorkman starts a workman of w registered with the park at parkURL;
// a blank cfg.ParkURL is set to it.
func StartWorkman(t testing.TB, parkURL string, cfg workman.Config, w workman.Worker) *workman.Workman {
	t.Helper()
	if cfg.ParkURL == "" {
		cfg.ParkURL = parkURL
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("workman")
	}
	wm, err := workman.New(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wm.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = wm.Shutdown(ctx)
	})
	return wm
}

// NewForeman returns a foreman on the park at parkURL, closed at cleanup.
func NewForeman(t testing.TB, parkURL string, cfg foreman.Config) *foreman.Foreman {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("foreman")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := foreman.Dial(ctx, parkURL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// Cluster is a park server with workmen of one type.
type Cluster struct {
	Park    *parkserver.Server
	URL     string
	Workmen []*workman.Workman
}

// Start starts a park server and n workmen of w, configured by cfg (Type
// and Mode from cfg; ID and ParkURL are filled in).
func Start(t testing.TB, n int, cfg workman.Config, w workman.Worker) *Cluster {
	t.Helper()
	p := StartPark(t, parkserver.Config{})
	c := &Cluster{Park: p, URL: p.ClientURL()}
	for range n {
		c.Workmen = append(c.Workmen, StartWorkman(t, c.URL, cfg, w))
	}
	return c
}

// Claim claims n waiting workers of type typ for f, and fails the test
// unless it got exactly n.
func Claim(t testing.TB, f *foreman.Foreman, typ string, n int) []*foreman.Workman {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := f.GetWaitingWorkers(ctx, typ, n)
	if err != nil || len(ws) != n {
		t.Fatalf("claimed %d waiting workers of type %q (%v), want %d", len(ws), typ, err, n)
	}
	return ws
}

// NeedCluster skips a test that starts a cluster unless
// FOURINONE_CLUSTER_TESTS is set: elections and raft heartbeats need the
// machine to themselves, so .ci/run runs these tests on their own, after
// the others (the README says how).
func NeedCluster(t testing.TB) {
	t.Helper()
	if os.Getenv("FOURINONE_CLUSTER_TESTS") == "" {
		t.Skip("a cluster test: FOURINONE_CLUSTER_TESTS=1 go test -p 1 -run Cluster ./e2e ./parkserver ./jobcenter ./park (.ci/run runs them alone)")
	}
}

// JetStream connects to the park at url for the rest of the test and
// returns its JetStream.
func JetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
