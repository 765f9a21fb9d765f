// Command chaosforeman is the foreman the claim tests run as a process of
// its own (so a test can kill it): it claims -workers workers of type
// echo, prints "foreman ID claimed N", runs -tasks tasks of -sleep-ms each
// (every task names this foreman under "foreman", so a workman can log who
// ran what), checks that every task's result came exactly once, prints
// "foreman ID done N" and exits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

func main() {
	park := flag.String("park", "nats://127.0.0.1:4222", "park server URL")
	id := flag.String("id", "", "foreman id")
	workers := flag.Int("workers", 1, "workers to claim")
	tasks := flag.Int64("tasks", 10, "tasks to run")
	sleep := flag.Int64("sleep-ms", 0, "how long each task sleeps on its worker")
	wait := flag.Duration("wait", time.Minute, "how long to wait for the workers")
	var sec security.Config
	sec.ClientFlags(flag.CommandLine)
	flag.Parse()
	if err := run(*park, foreman.Config{ID: *id, Security: sec}, *workers, *tasks, *sleep, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "chaosforeman:", err)
		os.Exit(1)
	}
}

func run(park string, cfg foreman.Config, workers int, tasks, sleep int64, wait time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := foreman.Dial(ctx, park, cfg)
	if err != nil {
		return err
	}
	defer f.Close()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	ws, err := f.WaitWorkers(wctx, "echo", workers)
	if err != nil {
		return err
	}
	if len(ws) < workers {
		return fmt.Errorf("claimed %d workers in %v, want %d", len(ws), wait, workers)
	}
	fmt.Printf("foreman %s claimed %d\n", f.ID(), len(ws))
	split := splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		return splitter.IntRange(0, tasks, 1).Split(ctx, func(w *warehouse.Warehouse) error {
			w.SetString("foreman", f.ID())
			w.SetInt64("sleep_ms", sleep)
			return emit(w)
		})
	})
	seen := make([]int, tasks)
	check := combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		lo, _ := r.Int64("lo")
		if lo < 0 || lo >= tasks {
			return nil, fmt.Errorf("a result for task %d, of %d tasks", lo, tasks)
		}
		seen[lo]++
		return acc, nil
	})
	var st foreman.RunStats
	if _, err := f.Run(ctx, ws, split, check, foreman.Stats(&st)); err != nil {
		return err
	}
	for lo, n := range seen {
		if n != 1 {
			return fmt.Errorf("task %d combined %d times", lo, n)
		}
	}
	fmt.Printf("foreman %s done %d %+v\n", f.ID(), tasks, st)
	return nil
}
