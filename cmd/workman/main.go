// Command workman runs a worker of a type compiled into this binary,
// registered with a park server.
//
//	workman -type TYPE [-cmd 'PROGRAM ARGS'] [-park nats://127.0.0.1:4222] [-mode mesh|hub] [-listen ADDR] [-capacity N] [-budget BYTES] [-memory-limit BYTES] [-data-dir DIR]
//	        [-token T | -creds FILE] [-tls-ca F] [-tls-cert F -tls-key F [-tls-verify]]
//
// The types are the table in main: to run your own Worker, copy this file
// and add it to the table (or call workman.Run from your own main). When
// registered it prints "workman ID ready" on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/examples/exec"
	"github.com/fourinone-go/fourinone/examples/factors"
	"github.com/fourinone-go/fourinone/examples/mandelbrot"
	"github.com/fourinone-go/fourinone/examples/paramserver"
	"github.com/fourinone-go/fourinone/examples/search"
	"github.com/fourinone-go/fourinone/examples/shuffle"
	"github.com/fourinone-go/fourinone/examples/terasort"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// types are the Workers this binary can run, by -type.
var types = map[string]func() workman.Worker{
	wordcount.Type:          wordcount.Worker,
	factors.Type:            factors.Worker,
	mandelbrot.Type:         mandelbrot.Worker,
	search.Type:             search.Worker,
	shuffle.Type:            shuffle.NewWorker,
	terasort.Type:           terasort.NewWorker,
	paramserver.TypePS:      paramserver.NewPS,
	paramserver.TypeTrainer: paramserver.NewTrainer,
	// noop answers every task with an empty Warehouse: for benchmarks and
	// smoke tests.
	"noop": func() workman.Worker {
		return workman.WorkerFunc(func(context.Context, *warehouse.Warehouse) (*warehouse.Warehouse, error) {
			return warehouse.New(), nil
		})
	},
}

func main() {
	fs := flag.NewFlagSet("workman", flag.ContinueOnError)
	var cfg workman.Config
	known := slices.Sorted(maps.Keys(types))
	fs.StringVar(&cfg.Type, "type", "", fmt.Sprintf("worker type, one of %q", known))
	fs.StringVar(&cfg.ParkURL, "park", "nats://127.0.0.1:4222", "park server URL")
	fs.StringVar(&cfg.Mode, "mode", workman.ModeMesh, "mesh (serve on an own listener) or hub (serve through the park server)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "mesh-mode listen address")
	fs.StringVar(&cfg.Advertise, "advertise", "", "mesh-mode host:port that foremen and peers dial (blank: the listen address)")
	fs.IntVar(&cfg.Capacity, "capacity", 2, "tasks run at once")
	fs.Int64Var(&cfg.Budget, "budget", 0, "bytes of requests held at once, queued or running (0: capacity × 64 MiB)")
	cfg.Security.ClientFlags(fs)
	fs.BoolVar(&cfg.Security.TLS.Verify, "tls-verify", false, "mesh mode: the listener requires client certificates signed by -tls-ca")
	fs.StringVar(&cfg.ID, "id", "", "workman id (blank: a UUID)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "the directory tasks' files are read in; no path outside it is read (blank: the working directory)")
	memLimit := fs.Int64("memory-limit", -1, "the Go runtime's soft memory limit in bytes (-1: 2 × budget + 64 MiB, unless $GOMEMLIMIT is set; 0: none)")
	logFlags := cmdflag.LogFlags(fs, "info", "auto")
	traceFlag := cmdflag.TraceFlag(fs)
	metricsFlag := cmdflag.MetricsFlag(fs, "the workman")
	command := fs.String("cmd", "", "-type exec: the program run for each task (with sh -c), the task's bytes on its stdin")
	cmdflag.Parse(fs, os.Args[1:])
	if err := cmdflag.CheckID(fs, "id"); err != nil {
		fmt.Fprintln(os.Stderr, "workman:", err)
		os.Exit(2)
	}
	newWorker, ok := types[cfg.Type]
	if cfg.Type == exec.Type {
		newWorker, ok = func() workman.Worker { return exec.Worker(*command) }, true
	}
	if !ok || fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "workman: unknown -type %q: one of %q\n", cfg.Type, slices.Sorted(slices.Values(append(known, exec.Type))))
		os.Exit(2)
	}
	if (cfg.Type == exec.Type) != (*command != "") {
		fmt.Fprintln(os.Stderr, "workman: -cmd goes with -type exec, and -type exec needs it")
		os.Exit(2)
	}
	log, err := logFlags.Logger()
	if err != nil {
		fmt.Fprintln(os.Stderr, "workman:", err)
		os.Exit(2)
	}
	defer func() { _ = log.Sync() }()
	flushTraces, err := traceFlag.Start("workman", log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workman:", err)
		os.Exit(2)
	}
	defer flushTraces()
	cfg.Logger = log
	reg, _, stopMetrics, err := metricsFlag.Serve(log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workman:", err)
		os.Exit(2)
	}
	defer stopMetrics()
	cfg.Metrics = reg
	wm, err := workman.New(cfg, newWorker())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The budget bounds the bytes the workman holds for requests; the soft
	// limit keeps the garbage of big messages from doubling that in RSS.
	if *memLimit < 0 && os.Getenv("GOMEMLIMIT") == "" {
		*memLimit = 2*wm.Budget() + 64<<20
	}
	if *memLimit > 0 {
		debug.SetMemoryLimit(*memLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = wm.Start(sctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("workman %s ready\n", wm.ID())
	<-ctx.Done()
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wm.Shutdown(dctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
