// Command contractor runs the job center's Works of a type compiled into
// this binary: it claims workers from the park server and runs each Work as
// a job on them.
//
//	contractor -type wordcount [-park nats://127.0.0.1:4222] [-workers N] [-concurrency N] [-lease 30s] [-id ID]
//	           [-token T | -creds FILE] [-tls-ca F] [-tls-cert F -tls-key F]
//
// The types are the table below: to run your own Works, copy this file and
// add a jobcenter.Definition to the table. When it serves it prints
// "contractor ID ready" on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// types are the Works this binary runs, by -type, given -workers.
var types = map[string]func(workers int) jobcenter.Definition{
	wordcount.Type: wordcount.Definition,
	// noop runs one empty task on a "noop" worker: for benchmarks and
	// smoke tests.
	"noop": func(workers int) jobcenter.Definition {
		return jobcenter.Definition{Type: "noop", Workers: workers,
			Job: func(context.Context, *warehouse.Warehouse) (splitter.Splitter, combiner.Combiner, error) {
				keep := combiner.Func(func(acc, _ *warehouse.Warehouse) (*warehouse.Warehouse, error) { return acc, nil })
				return splitter.Tasks(warehouse.New()), keep, nil
			}}
	},
}

func main() {
	fs := flag.NewFlagSet("contractor", flag.ContinueOnError)
	known := slices.Sorted(maps.Keys(types))
	typ := fs.String("type", "", fmt.Sprintf("work type, one of %q", known))
	park := fs.String("park", "nats://127.0.0.1:4222", "park server URL")
	workers := fs.Int("workers", 2, "workers a Work runs on")
	var cfg jobcenter.ContractorConfig
	fs.IntVar(&cfg.Concurrency, "concurrency", 1, "Works run at once")
	fs.DurationVar(&cfg.Lease, "lease", 30*time.Second, "a running Work goes to another contractor this long after this one stops renewing it")
	fs.StringVar(&cfg.ID, "id", "", "contractor id (blank: a UUID)")
	var sec security.Config
	sec.ClientFlags(fs)
	logFlags := cmdflag.LogFlags(fs, "info", "auto")
	traceFlag := cmdflag.TraceFlag(fs)
	metricsFlag := cmdflag.MetricsFlag(fs, "the contractor's foreman")
	cmdflag.Parse(fs, os.Args[1:])
	if err := cmdflag.CheckID(fs, "id"); err != nil {
		fmt.Fprintln(os.Stderr, "contractor:", err)
		os.Exit(2)
	}
	def, ok := types[*typ]
	if !ok || fs.NArg() > 0 || *workers < 1 || cfg.Concurrency < 1 || cfg.Lease < 300*time.Millisecond {
		fmt.Fprintf(os.Stderr, "contractor: want -type one of %q, -workers and -concurrency of at least 1, a -lease of at least 300ms\n", known)
		os.Exit(2)
	}
	log, err := logFlags.Logger()
	if err != nil {
		fmt.Fprintln(os.Stderr, "contractor:", err)
		os.Exit(2)
	}
	defer func() { _ = log.Sync() }()
	flushTraces, err := traceFlag.Start("contractor", log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "contractor:", err)
		os.Exit(2)
	}
	defer flushTraces()
	cfg.Logger = log
	reg, _, stopMetrics, err := metricsFlag.Serve(log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "contractor:", err)
		os.Exit(2)
	}
	defer stopMetrics()
	if err := run(*park, sec, def(*workers), cfg, reg); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "contractor:", err)
		os.Exit(1)
	}
}

func run(park string, sec security.Config, def jobcenter.Definition, cfg jobcenter.ContractorConfig, reg prometheus.Registerer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	id, err := sec.MemberID(cfg.ID, security.RoleForeman)
	if err != nil {
		return err
	}
	if id == "" {
		id = uuid.NewString()
	}
	cfg.ID = id
	f, err := foreman.Dial(sctx, park, foreman.Config{ID: id, Security: sec, Logger: cfg.Logger, Metrics: reg})
	if err != nil {
		return err
	}
	defer f.Close()
	nc, err := wire.Connect(park, wire.ConnOptions{Security: sec, Name: "contractor " + id, Member: id})
	if err != nil {
		return err
	}
	defer nc.Close()
	c, err := jobcenter.NewContractor(sctx, nc, f, def, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("contractor %s ready\n", c.ID())
	return c.Serve(ctx)
}
