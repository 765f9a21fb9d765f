// Package bench is fourbench: the benchmark suite that measures the
// framework side by side with the transport's floor (raw NATS) and a
// single core. The suite runs the park server and the workmen as child
// processes of its own binary (roles), so every round trip crosses
// processes as it does in production.
package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/examples/terasort"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/slowlink"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/nats-io/nats.go"
)

// RawSubject is where a workmen process answers raw NATS requests: the
// floor a DoTask round trip is compared with.
const RawSubject = "bench.raw"

// noop answers every task with an empty Warehouse.
var noop = workman.WorkerFunc(func(context.Context, *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	return warehouse.New(), nil
})

// echo answers every task with the task itself.
var echo = workman.WorkerFunc(func(_ context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	return in, nil
})

// RunRole runs a child role and reports whether args named one.
func RunRole(args []string) (bool, error) {
	if len(args) == 0 || args[0] != "-role" {
		return false, nil
	}
	fs := flag.NewFlagSet("fourbench role", flag.ContinueOnError)
	role := fs.String("role", "", "park, workmen or beats")
	park := fs.String("park", "", "park URL (workmen)")
	n := fs.Int("n", 1, "workmen to run (workmen)")
	mode := fs.String("mode", workman.ModeMesh, "mesh or hub (workmen)")
	typ := fs.String("type", "noop", "noop, echo, reg, wide, trecord, hrecord, tnoop, wordcount or terasort (workmen)")
	capacity := fs.Int("capacity", 2, "capacity of each workman (workmen)")
	dataDir := fs.String("data-dir", "", "the workmen's data directory (workmen)")
	as := fs.String("as", "", "the type the workmen register as (blank: -type) (workmen)")
	delay := fs.Duration("delay", 0, "delay each way on every link to a mesh workman, through a proxy (workmen)")
	jitter := fs.Duration("jitter", 0, "the delay varies by up to this much either way (workmen)")
	every := fs.Duration("every", time.Second, "how often each connection publishes (beats)")
	size := fs.Int("size", 300, "bytes each connection publishes (beats)")
	var sec security.Config
	sec.TLSFlags(fs, "")
	var pc parkserver.Config
	fs.StringVar(&pc.Name, "name", "", "server name (park, in a cluster)")
	fs.StringVar(&pc.Cluster, "cluster", "", "cluster host:port (park)")
	fs.DurationVar(&pc.Lease, "lease", 0, "the registry's lease (park)")
	routes := fs.String("routes", "", "the cluster's routes, comma-separated (park)")
	fs.Func("sync", "how the park syncs its store: always or an interval (park)", func(v string) (err error) {
		pc.Sync, err = parkserver.ParseSync(v)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return true, err
	}
	benchTLS = sec.TLS
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// FOURBENCH_PROFILE_DIR makes every child write a CPU profile there,
	// and a heap profile as it stops.
	if dir := os.Getenv("FOURBENCH_PROFILE_DIR"); dir != "" {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.prof", *role, os.Getpid())))
		if err != nil {
			return true, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return true, err
		}
		defer pprof.StopCPUProfile()
		// And its heap when told to stop, before it lets go of anything.
		writeHeap = func() {
			if h, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.heap", *role, os.Getpid()))); err == nil {
				_ = pprof.WriteHeapProfile(h)
				_ = h.Close()
			}
		}
	}
	switch *role {
	case "park":
		if *routes != "" {
			pc.Routes = strings.Split(*routes, ",")
		}
		return true, runPark(ctx, pc)
	case "workmen":
		always := func(w workman.Worker) func() workman.Worker { return func() workman.Worker { return w } }
		w := map[string]func() workman.Worker{"noop": always(noop), "echo": always(echo), "reg": always(noop), "wide": always(noop),
			"trecord": always(typedRecord), "hrecord": always(handRecord), "tnoop": always(typedNoop),
			wordcount.Type: wordcount.Worker, terasort.Type: terasort.NewWorker}[*typ]
		if w == nil {
			return true, fmt.Errorf("unknown -type %q", *typ)
		}
		if *as == "" {
			*as = *typ
		}
		return true, runWorkmen(ctx, &workmenConfig{park: *park, n: *n, mode: *mode, capacity: *capacity, typ: *as, dataDir: *dataDir,
			delay: *delay, jitter: *jitter}, w)
	case "beats":
		return true, runBeats(ctx, *park, *n, *every, *size)
	}
	return true, fmt.Errorf("unknown -role %q", *role)
}

func runPark(ctx context.Context, cfg parkserver.Config) error {
	cfg.Listen, cfg.TLS = "127.0.0.1:0", benchTLS
	if cfg.Cluster != "" {
		dir, err := os.MkdirTemp("", "fourbench-park-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.StoreDir = dir
	}
	s, err := parkserver.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	fmt.Printf("ready %s\n", s.ClientURL())
	<-ctx.Done()
	writeHeap()
	return s.Shutdown(context.Background())
}

// workmenConfig is what a workmen process runs.
type workmenConfig struct {
	park, mode, typ, dataDir string
	n, capacity              int
	// delay and jitter, if set, put a slowlink proxy before each workman:
	// it listens on a port of its own and advertises the proxy's.
	delay, jitter time.Duration
	proxies       []*slowlink.Proxy
	mu            sync.Mutex
}

// slow puts a proxy with c's delay before the workman cfg configures, if
// c has a delay.
func (c *workmenConfig) slow(cfg *workman.Config) error {
	if c.delay == 0 {
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cfg.Listen = ln.Addr().String()
	ln.Close() // the workman listens there: a moment's race with another process, on one machine
	p, err := slowlink.Listen("127.0.0.1:0", cfg.Listen, c.delay, c.jitter)
	if err != nil {
		return err
	}
	cfg.Advertise = p.Addr().String()
	c.mu.Lock()
	c.proxies = append(c.proxies, p)
	c.mu.Unlock()
	return nil
}

// runWorkmen runs n workmen and a raw NATS responder connected the way the
// workmen serve: in mesh mode an embedded server of its own in this
// process with an in-process connection, in hub mode a TCP connection to
// the park. It prints "ready URL" with the URL the responder serves on.
func runWorkmen(ctx context.Context, c *workmenConfig, newWorker func() workman.Worker) error {
	park, n, mode := c.park, c.n, c.mode
	defer func() { // after the workmen stop
		for _, p := range c.proxies {
			_ = p.Close()
		}
	}()
	var wms []*workman.Workman
	// Started and stopped 48 at a time: thousands of them (the registry
	// measurement) would otherwise take a minute, one round trip at a time.
	sem := make(chan struct{}, 48)
	var wg sync.WaitGroup
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, wm := range wms {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				_ = wm.Shutdown(sctx)
			})
		}
		wg.Wait()
	}()
	var mu sync.Mutex
	var errs []error
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cfg := workman.Config{Type: c.typ, ParkURL: park, Mode: mode, Capacity: c.capacity, DataDir: c.dataDir,
				Security: security.Config{TLS: benchTLS}}
			err := c.slow(&cfg)
			var wm *workman.Workman
			if err == nil {
				wm, err = workman.New(cfg, newWorker())
			}
			if err == nil {
				err = wm.Start(ctx)
			}
			mu.Lock()
			defer mu.Unlock()
			if wm != nil {
				wms = append(wms, wm)
			}
			errs = append(errs, err)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	url := park
	var nc *nats.Conn
	var err error
	if mode == workman.ModeMesh {
		ns, err := wire.StartServer(wire.ServerConfig{TLS: benchTLS})
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		url = ns.ClientURL()
		nc, err = wire.ConnectInProcess(ns, wire.ConnOptions{})
		if err != nil {
			return err
		}
	} else if nc, err = connect(url); err != nil {
		return err
	}
	defer nc.Close()
	if _, err := nc.Subscribe(RawSubject, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	fmt.Printf("ready %s\n", url)
	<-ctx.Done()
	writeHeap()
	return nil
}

// runBeats is the floor of the registry's heartbeats: n plain NATS
// connections to the park, each putting size bytes into the registry's
// bucket every interval without waiting for an acknowledgement (the
// least a heartbeat stored by the park can cost it).
func runBeats(ctx context.Context, park string, n int, every time.Duration, size int) error {
	conns := make([]*nats.Conn, n)
	defer func() {
		for _, nc := range conns {
			if nc != nil {
				nc.Close()
			}
		}
	}()
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i], errs[i] = connect(park)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	value := bytes.Repeat([]byte("x"), size)
	for i, nc := range conns {
		subject := fmt.Sprintf("$KV.%s.beat.%d-%d", registry.Bucket, os.Getpid(), i)
		wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					_ = nc.Publish(subject, value)
				}
			}
		})
	}
	fmt.Printf("ready %s\n", park)
	<-ctx.Done()
	wg.Wait()
	return nil
}

// writeHeap writes the process's heap profile (FOURBENCH_PROFILE_DIR).
var writeHeap = func() {}

// benchTLS is the TLS every process of the suite uses (fourbench -tls), or
// none.
var benchTLS security.TLS

// connect dials url, with TLS if the suite uses it.
func connect(url string) (*nats.Conn, error) {
	return wire.Connect(url, wire.ConnOptions{Name: "fourbench", Security: security.Config{TLS: benchTLS}, MaxReconnects: -1})
}

// foremanConfig is the suite's foreman configuration.
func foremanConfig() foreman.Config {
	return foreman.Config{Security: security.Config{TLS: benchTLS}}
}
