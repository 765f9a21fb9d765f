// Command chaosworkman is the workman the chaos tests run: a user's own
// workman binary, built the way the README describes. Its types:
//
//   - wordcount: the word-count Worker, after sleeping the task's
//     "sleep_ms" (if any), so a test can keep tasks in flight;
//   - echo: returns the task's "lo" under "lo", so a test can check that
//     every task's result arrives exactly once, and "blob_bytes" bytes
//     (if any) under "blob", for big results.
//
// When registered it prints "workman ID ready" on stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

func slow(w workman.Worker) workman.Worker {
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		if ms, ok := in.Int64("sleep_ms"); ok {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return w.DoTask(ctx, in)
	})
}

var echo = workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	lo, _ := in.Int64("lo")
	out := warehouse.New()
	out.SetInt64("lo", lo)
	if n, ok := in.Int64("blob_bytes"); ok && n > 0 && n <= warehouse.DefaultMaxSize {
		out.SetBytes("blob", make([]byte, n))
	}
	return out, nil
})

func main() {
	var cfg workman.Config
	flag.StringVar(&cfg.Type, "type", "wordcount", "wordcount or echo")
	flag.StringVar(&cfg.ParkURL, "park", "nats://127.0.0.1:4222", "park server URL")
	flag.StringVar(&cfg.Mode, "mode", workman.ModeMesh, "mesh or hub")
	flag.IntVar(&cfg.Capacity, "capacity", 2, "tasks at once")
	flag.StringVar(&cfg.ID, "id", "", "workman id")
	flag.Parse()
	w := map[string]workman.Worker{"wordcount": slow(wordcount.Worker()), "echo": echo}[cfg.Type]
	if w == nil {
		fmt.Fprintf(os.Stderr, "chaosworkman: unknown -type %q\n", cfg.Type)
		os.Exit(2)
	}
	wm, err := workman.New(cfg, w)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := wm.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("workman %s ready\n", wm.ID())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = wm.Shutdown(sctx)
}
