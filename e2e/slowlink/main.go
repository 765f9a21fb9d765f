// Command slowlink runs internal/slowlink as a process, for the network
// tests to put on a simulated host: it forwards -listen to -to, each way
// delayed by -delay plus or minus -jitter, prints "slowlink ready at
// ADDR" and runs until SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/internal/slowlink"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	to := flag.String("to", "", "address to forward to")
	delay := flag.Duration("delay", 50*time.Millisecond, "delay each way")
	jitter := flag.Duration("jitter", 0, "the delay varies by up to this much either way")
	flag.Parse()
	if *to == "" {
		fmt.Fprintln(os.Stderr, "slowlink: -to is required")
		os.Exit(2)
	}
	p, err := slowlink.Listen(*listen, *to, *delay, *jitter)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowlink:", err)
		os.Exit(1)
	}
	fmt.Println("slowlink ready at", p.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	_ = p.Close()
}
