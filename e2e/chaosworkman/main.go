// Command chaosworkman is the workman the chaos tests run: a user's own
// workman binary, built the way the README describes. Its types:
//
//   - wordcount: the word-count Worker, after sleeping the task's
//     "sleep_ms" (or -sleep-ms), so a test can keep tasks in flight;
//   - echo: after sleeping the task's "sleep_ms" (or -sleep-ms), returns the
//     task's "lo" under "lo", so a test can check that every task's result
//     arrives exactly once, and "blob_bytes" bytes (if any) under "blob",
//     for big results.
//
// With -tasklog FILE it appends a line to FILE when a task starts and one
// when it ends, with the task's "foreman" (a word count's task: the name
// of its text file; else -), its "lo", its start (and
// end) in Unix nanoseconds, and "ok" or the error: a test sees which
// foremen used the workman's slots when.
//
// When registered it prints "workman ID ready" on stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// slow sleeps a task's "sleep_ms" (or else defaultMS) before w runs it.
func slow(w workman.Worker, defaultMS int64) workman.Worker {
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		ms, ok := in.Int64("sleep_ms")
		if !ok {
			ms, ok = defaultMS, defaultMS > 0
		}
		if ok {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-ctx.Done():
				return nil, context.Cause(ctx)
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

// logged appends two lines per task of w to f: "start FOREMAN LO START"
// when it starts, "end FOREMAN LO START END RESULT" when it ends.
func logged(w workman.Worker, f *os.File) workman.Worker {
	var mu sync.Mutex
	write := func(format string, v ...any) error {
		mu.Lock()
		defer mu.Unlock()
		_, err := fmt.Fprintf(f, format, v...)
		return err
	}
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		foreman, ok := in.String("foreman")
		if path, isText := in.String(splitter.KeyPath); !ok && isText {
			foreman = filepath.Base(path) // a word count's: its text names it
		} else if !ok {
			foreman = "-"
		}
		lo, _ := in.Int64("lo")
		start := time.Now().UnixNano()
		if err := write("start %s %d %d\n", foreman, lo, start); err != nil {
			return nil, err
		}
		out, err := w.DoTask(ctx, in)
		res := "ok"
		if err != nil {
			res = strings.ReplaceAll(err.Error(), "\n", " ")
		}
		if werr := write("end %s %d %d %d %s\n", foreman, lo, start, time.Now().UnixNano(), res); werr != nil {
			return nil, werr
		}
		return out, err
	})
}

func main() {
	var cfg workman.Config
	flag.StringVar(&cfg.Type, "type", "wordcount", "wordcount or echo")
	flag.StringVar(&cfg.ParkURL, "park", "nats://127.0.0.1:4222", "park server URL")
	flag.StringVar(&cfg.Mode, "mode", workman.ModeMesh, "mesh or hub")
	flag.IntVar(&cfg.Capacity, "capacity", 2, "tasks at once")
	flag.StringVar(&cfg.ID, "id", "", "workman id")
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "mesh-mode listen address")
	flag.StringVar(&cfg.Advertise, "advertise", "", "mesh-mode host:port that foremen dial (blank: the listen address)")
	flag.StringVar(&cfg.DataDir, "data-dir", "", "the directory tasks' files are read in")
	cfg.Security.ClientFlags(flag.CommandLine)
	taskLog := flag.String("tasklog", "", "append a line per task to this file")
	sleep := flag.Int64("sleep-ms", 0, "how long a task without a sleep_ms sleeps first")
	flag.Parse()
	w := map[string]workman.Worker{"wordcount": slow(wordcount.Worker(), *sleep), "echo": slow(echo, *sleep)}[cfg.Type]
	if w == nil {
		fmt.Fprintf(os.Stderr, "chaosworkman: unknown -type %q\n", cfg.Type)
		os.Exit(2)
	}
	if *taskLog != "" {
		f, err := os.OpenFile(*taskLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		w = logged(w, f)
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
