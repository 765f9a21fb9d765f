// Command wordcount counts the words of text files with fourinone workers.
//
//	wordcount [-park URL] [-workers N] [-ship] [-top N] [-q] FILE...
//
// Without -park it starts an embedded park server and N in-process workmen.
// While it counts, it shows the job's progress on stderr (a bar on a
// terminal, else a line every 5 s), unless -q.
// Output: "count<TAB>word" lines, count descending, then word ascending.
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
	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/progress"
)

func main() {
	fs := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	var o wordcount.Options
	fs.StringVar(&o.Park, "park", "", "park server URL (blank: start an embedded park server and workers)")
	fs.IntVar(&o.Workers, "workers", 2, "number of workers")
	fs.BoolVar(&o.Ship, "ship", false, "ship the text inside the tasks instead of file offsets")
	top := fs.Int("top", 0, "print only the N most frequent words (0: all)")
	o.Security.ClientFlags(fs)
	fs.StringVar(&o.Mode, "mode", "mesh", "mode of the embedded workers: mesh or hub")
	fs.Int64Var(&o.PartSize, "part-size", wordcount.DefaultPartSize, "bytes of text per task")
	fs.DurationVar(&o.Wait, "wait", 10*time.Second, "with -park: how long to wait for -workers workers before running with those there are")
	verbose := fs.Bool("v", false, "log at -log-level info")
	logFlags := cmdflag.LogFlags(fs, "warn", "console")
	metricsFlag := cmdflag.MetricsFlag(fs, "the foreman (and embedded workmen)")
	quiet := fs.Bool("q", false, "no progress on stderr (a bar on a terminal, else a line every 5 s)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: wordcount [flags] FILE...")
		fs.PrintDefaults()
	}
	cmdflag.Parse(fs, os.Args[1:])
	if fs.NArg() == 0 || *top < 0 || o.Workers < 1 || o.PartSize < 1 {
		fs.Usage()
		os.Exit(2)
	}
	if *verbose {
		logFlags.SetLevel("info")
	}
	log, err := logFlags.Logger()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(2)
	}
	defer func() { _ = log.Sync() }()
	o.Logger = log
	reg, _, stopMetrics, err := metricsFlag.Serve(log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(2)
	}
	defer stopMetrics()
	o.Metrics = reg
	o.Progress = progress.Stderr(*quiet)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	counts, err := wordcount.Count(ctx, o, fs.Args()...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
	if err := wordcount.Write(os.Stdout, counts, *top); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}
