// Command fourbench measures fourinone side by side with its floors (raw
// NATS between the same processes, the best program on one goroutine,
// plain connections to a park) and prints a table. See
// docs/performance.md.
//
//	go run ./cmd/fourbench [-calls 10000] [-tasks 100000] [-text-mib 256] [-registry 10000] [-tls] [-cluster] [-only rtt|throughput|typed|bigwarehouse|tls|wordcount|latency|sort|registry|jobcenter|park] [-json] [-compare OLD.json]
//
// -json prints the table as JSON; -compare prints it beside an earlier
// run's JSON, row by row.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/cmd/fourbench/internal/bench"
)

func main() {
	if ok, err := bench.RunRole(os.Args[1:]); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, "fourbench:", err)
			os.Exit(1)
		}
		return
	}
	var o bench.Options
	flag.IntVar(&o.Calls, "calls", 10000, "round trips per latency measurement")
	flag.IntVar(&o.Tasks, "tasks", 100000, "no-op tasks for the throughput measurement")
	flag.IntVar(&o.Slots, "slots", 32, "capacity of each throughput worker (tasks in flight)")
	textMiB := flag.Int64("text-mib", 256, "MiB of generated text for the word count")
	flag.IntVar(&o.SortRecords, "sort-records", 1_000_000, "100-byte records for the sort")
	flag.IntVar(&o.Registry, "registry", 10000, "workmen to register for the registry measurement")
	flag.IntVar(&o.Claim, "claim", 5000, "workmen a foreman claims of them")
	flag.DurationVar(&o.RegistryLease, "registry-lease", 10*time.Second, "the lease of the park the registry is measured on (heartbeats every third of it)")
	flag.IntVar(&o.Works, "works", 20000, "durable no-op Works for the job-center throughput measurement")
	flag.IntVar(&o.WaitingWorks, "waiting-works", 20000, "Works left waiting for the park's memory measurement (100,000 or more: measured again 30 s later)")
	flag.BoolVar(&o.Cluster, "cluster", false, "measure the hub round trip, the registry and the job center again on a 3-server park cluster")
	flag.StringVar(&o.Sync, "sync", "", "every park server's -sync: always (sync after every write) or an interval (default: JetStream's, every 2m)")
	flag.BoolVar(&o.TLS, "tls", false, "run every link over TLS (a CA and certificate made for the run)")
	flag.StringVar(&o.Only, "only", "", "run one measurement: rtt, throughput, timeline, typed, bigwarehouse, tls, wordcount, latency, sort, registry, jobcenter or park")
	cpuProfile := flag.String("cpuprofile", "", "write the suite process's CPU profile here")
	memProfile := flag.String("memprofile", "", "write the suite process's allocations profile here at the end")
	asJSON := flag.Bool("json", false, "print the table as JSON (for -compare later)")
	compare := flag.String("compare", "", "print the table beside this earlier run's -json output")
	flag.Parse()
	var before []bench.Row
	if *compare != "" {
		b, err := os.ReadFile(*compare)
		if err == nil {
			err = json.Unmarshal(b, &before)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "fourbench: -compare %s: %v\n", *compare, err)
			os.Exit(2)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fourbench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "fourbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	o.TextBytes = *textMiB << 20
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := bench.Suite(ctx, o)
	if *memProfile != "" {
		if perr := writeAllocs(*memProfile); perr != nil {
			fmt.Fprintln(os.Stderr, "fourbench:", perr)
		}
	}
	if err == nil {
		switch {
		case *asJSON:
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			err = enc.Encode(rows)
		case *compare != "":
			err = bench.WriteCompare(os.Stdout, before, rows)
		default:
			err = bench.WriteTable(os.Stdout, rows)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fourbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// writeAllocs writes the process's allocations profile to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
