// Command jobs submits Works to the park server's job center and reads
// them back.
//
//	jobs [-park URL] [-token T] submit -type T [-id ID] [-durable=false] [-max-attempts N] [-after D] [-part-size N] [FILE...]
//	jobs [-park URL] wait [-top N] ID
//	jobs [-park URL] status ID
//	jobs [-park URL] list [-type T] [-status S]
//	jobs [-park URL] cancel ID
//	jobs [-park URL] resubmit ID
//
// submit prints the Work's ID. For -type wordcount the FILEs are the files
// to count; wait then prints "count<TAB>word" lines like the wordcount
// command (the -top N first); for other types it prints the result's keys.
// While the park does not answer (restarting, or its cluster electing a
// leader), submit, status and wait say so once on stderr and try again
// until interrupted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/warehouse"
	"go.uber.org/zap"
)

const usage = `usage: jobs [-park URL] [-token T] COMMAND ...
commands: submit, wait, status, list, cancel, resubmit (jobs COMMAND -h for each)`

func main() {
	fs := flag.NewFlagSet("jobs", flag.ContinueOnError)
	park := fs.String("park", "nats://127.0.0.1:4222", "park server URL")
	var sec security.Config
	sec.ClientFlags(fs)
	logFlags := cmdflag.LogFlags(fs, "warn", "console")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), usage); fs.PrintDefaults() }
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	log, err := logFlags.Logger()
	if err != nil {
		fmt.Fprintln(os.Stderr, "jobs:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *park, sec, fs.Arg(0), fs.Args()[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "jobs:", err)
		var usageErr usageError
		if errors.As(err, &usageErr) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, log *zap.Logger, park string, sec security.Config, cmd string, args []string) error {
	fs := flag.NewFlagSet("jobs "+cmd, flag.ContinueOnError)
	var w jobcenter.Work
	var after time.Duration
	partSize := fs.Int64("part-size", wordcount.DefaultPartSize, "submit -type wordcount: bytes of text per task")
	top := fs.Int("top", 0, "wait: print only the N most frequent words of a word count (0: all)")
	var f jobcenter.Filter
	switch cmd {
	case "submit":
		fs.StringVar(&w.Type, "type", wordcount.Type, "work type")
		fs.StringVar(&w.ID, "id", "", "work id (blank: a UUID)")
		fs.BoolVar(&w.Durable, "durable", true, "keep the Work in the park's store (it survives park restarts)")
		fs.IntVar(&w.MaxAttempts, "max-attempts", jobcenter.DefaultMaxAttempts, "runs before the Work fails")
		fs.DurationVar(&after, "after", 0, "run no sooner than this from now")
	case "list":
		fs.StringVar(&f.Type, "type", "", "only Works of this type")
		fs.StringVar((*string)(&f.Status), "status", "", "only Works with this status (waiting, running, done, failed, cancelled)")
	case "wait", "status", "cancel", "resubmit":
	default:
		return usageError{fmt.Errorf("unknown command %q\n%s", cmd, usage)}
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if cmd != "submit" && cmd != "list" && fs.NArg() != 1 {
		return usageError{fmt.Errorf("%s wants one work id", cmd)}
	}
	member, err := sec.MemberID("", security.RoleForeman)
	if err != nil {
		return err
	}
	// A connection that drops is made again until ctx ends: submit and
	// wait ride out a park restart.
	nc, err := wire.Connect(park, wire.ConnOptions{Security: sec, Name: "jobs", Member: member})
	if err != nil {
		return err
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := jobcenter.New(cctx, nc)
	if err != nil {
		return err
	}
	c.SetLogger(log)
	switch cmd {
	case "submit":
		if w.Type == wordcount.Type {
			if fs.NArg() == 0 {
				return usageError{errors.New("submit -type wordcount wants the files to count")}
			}
			if w.Input, err = wordcount.WorkInput(fs.Args(), *partSize, false); err != nil {
				return err
			}
		}
		if after > 0 {
			w.NotBefore = time.Now().Add(after)
		}
		id, err := c.Submit(ctx, w)
		if err != nil {
			return err
		}
		fmt.Println(id)
	case "wait":
		out, err := c.Wait(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return printResult(out, *top)
	case "status":
		info, err := c.Status(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(info, "", "  ")
		fmt.Println(string(b))
	case "list":
		infos, err := c.List(ctx, f)
		if err != nil {
			return err
		}
		for _, i := range infos {
			fmt.Printf("%s\t%s\t%s\tattempts %d\t%s\n", i.ID, i.Type, i.Status, i.Attempts, i.LastError())
		}
	case "cancel":
		return c.Cancel(ctx, fs.Arg(0))
	case "resubmit":
		return c.Resubmit(ctx, fs.Arg(0))
	}
	return nil
}

func printResult(out *warehouse.Warehouse, top int) error {
	if counts, ok := out.Counts(wordcount.KeyCounts); ok {
		return wordcount.Write(os.Stdout, counts, top)
	}
	fmt.Printf("%#v\n", out)
	return nil
}
