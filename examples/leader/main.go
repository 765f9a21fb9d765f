// Command leader is a leader-elected singleton: of the candidates of a
// group, one leads at a time and does the group's work, here appending
// "TOKEN UNIXNANO" to LOG every -every; a candidate that loses the
// leadership (its lease ran out while it was paused or cut off) stops
// working at once and stands again.
//
//	leader [-park URL] [-group G] [-name N] [-lease 3s] [-every 50ms] LOG
//
// It prints "leader TOKEN" when it leads and "lost TOKEN" when it stops.
// Each line of LOG says the candidate led at that time: it is taken
// before the check that the leadership is still valid.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/security"
	"go.uber.org/zap"
)

func main() {
	url := flag.String("park", "nats://127.0.0.1:4222", "park server URL")
	group := flag.String("group", "singleton", "the election's group")
	name, _ := os.Hostname()
	flag.StringVar(&name, "name", fmt.Sprintf("%s-%d", name, os.Getpid()), "this candidate's name, told to others")
	lease := flag.Duration("lease", park.DefaultLease, "how long the leadership outlives this process if it dies")
	every := flag.Duration("every", 50*time.Millisecond, "how often the leader works")
	var sec security.Config
	sec.ClientFlags(flag.CommandLine)
	logFlags := cmdflag.LogFlags(flag.CommandLine, "warn", "auto")
	flag.Parse()
	log, err := logFlags.Logger()
	if err != nil {
		fmt.Fprintln(os.Stderr, "leader:", err)
		os.Exit(2)
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: leader [flags] LOG")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *url, sec, *lease, *group, name, *every, flag.Arg(0)); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "leader:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *zap.Logger, url string, sec security.Config, lease time.Duration, group, name string, every time.Duration, logFile string) error {
	c, err := park.Dial(ctx, url, sec, park.Options{Lease: lease, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Println("standing as", name)
	for {
		ld, err := c.Elect(ctx, group, []byte(name))
		if err != nil {
			return err
		}
		fmt.Println("leader", ld.Token())
		err = lead(ctx, ld, every, f)
		fmt.Println("lost", ld.Token())
		// Resigned, in case its node outlives what this process knows of
		// it: the next candidate need not wait for its lease.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rerr := ld.Resign(rctx)
		cancel()
		if err != nil || ctx.Err() != nil {
			return errors.Join(err, rerr)
		}
	}
}

// lead works while the leadership holds.
func lead(ctx context.Context, ld *park.Leadership, every time.Duration, log *os.File) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		now := time.Now() // before the check: the check says it led then
		if !ld.Valid() {
			return nil
		}
		if _, err := fmt.Fprintf(log, "%d %d\n", ld.Token(), now.UnixNano()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ld.Done():
			return nil
		case <-t.C:
		}
	}
}
