// Command lock is the park's lock recipe as a program: a critical section
// that adds one to a counter in a file, -n times, each time under the
// lock, with the lock's fencing token checked as a resource would.
//
//	lock [-park URL] [-name counter] [-n 50] [-lease 3s] [-hold] FILE
//
// FILE holds "count token": the count, and the greatest token that wrote
// it. A holder whose token is smaller than the file's (it lost the lock
// while paused, and another took it) is refused. Each holder appends its
// token to FILE.tokens. With -hold it holds the lock after its last
// increment until it is stopped. It prints "started" once connected, then
// "held TOKEN" for each hold, and "lost TOKEN" for a hold that was no
// longer valid as it came to increment (it tries again).
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

	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/security"
)

func main() {
	url := flag.String("park", "nats://127.0.0.1:4222", "park server URL")
	name := flag.String("name", "counter", "the lock's name")
	n := flag.Int("n", 50, "increments")
	lease := flag.Duration("lease", park.DefaultLease, "how long the lock outlives this process if it dies")
	hold := flag.Bool("hold", false, "hold the lock after the last increment until stopped")
	var sec security.Config
	sec.ClientFlags(flag.CommandLine)
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: lock [flags] FILE")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, sec, *lease, *name, *n, *hold, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "lock:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, sec security.Config, lease time.Duration, name string, n int, hold bool, file string) error {
	c, err := park.Dial(ctx, url, sec, park.Options{Lease: lease})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("started")
	for done := 0; done < n; {
		l, err := c.Lock(ctx, name)
		if err != nil {
			return err
		}
		fmt.Println("held", l.Token())
		// Checked just before acting as the holder: a lock whose renewals
		// went unanswered for a lease (this host cut off from the park)
		// may be another's by now.
		if !l.Valid() {
			fmt.Println("lost", l.Token())
		} else if err := increment(file, l.Token()); err != nil {
			return err
		} else {
			done++
		}
		if hold && done == n {
			select {
			case <-ctx.Done():
			case <-l.Done():
				return errors.New("the lock was lost")
			}
		}
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = l.Unlock(uctx)
		cancel()
		if err != nil {
			// Not fatal: the lock ends with its lease, and the next Lock
			// waits for that.
			fmt.Fprintln(os.Stderr, "lock: warning:", err)
		}
	}
	return nil
}

// increment is the critical section: the file is the resource, and it
// refuses a token older than the last one it took.
func increment(file string, token uint64) error {
	var count, last uint64
	if b, err := os.ReadFile(file); err == nil {
		if _, err := fmt.Sscan(string(b), &count, &last); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if token < last {
		return fmt.Errorf("token %d refused: the file was written with %d (this process lost the lock)", token, last)
	}
	if err := os.WriteFile(file, fmt.Appendf(nil, "%d %d\n", count+1, token), 0o644); err != nil {
		return err
	}
	f, err := os.OpenFile(file+".tokens", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, token)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
