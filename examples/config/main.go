// Command config follows a configuration value kept in the park: it prints
// the value at start and again each time it changes, as a program would
// reload it.
//
//	config [-park URL] [-domain app] NODE
//
// It prints "value V" for each value, "absent" when there is none.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/security"
)

func main() {
	url := flag.String("park", "nats://127.0.0.1:4222", "park server URL")
	domain := flag.String("domain", "app", "the configuration's domain")
	var sec security.Config
	sec.ClientFlags(flag.CommandLine)
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: config [flags] NODE")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, sec, *domain, flag.Arg(0)); err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, sec security.Config, domain, node string) error {
	c, err := park.Dial(ctx, url, sec, park.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	values, err := c.Config(ctx, domain, node)
	if err != nil {
		return err
	}
	for v := range values {
		if v == nil {
			fmt.Println("absent")
			continue
		}
		fmt.Println("value", string(v))
	}
	return ctx.Err()
}
