package netsim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// The test binary doubles as the hosts' programs: with NETSIM_ECHO it
// serves an echo on that address, with NETSIM_DIAL it sends a line there
// and exits 0 if the line comes back within a second.
func TestMain(m *testing.M) {
	if a := os.Getenv("NETSIM_ECHO"); a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("listening")
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(1)
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}
	if a := os.Getenv("NETSIM_DIAL"); a != "" {
		if err := echo(a); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// echo sends a line to the echo at addr and reads it back, within a
// second.
func echo(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err == nil && line != "hello\n" {
		err = fmt.Errorf("echo answered %q", line)
	}
	return err
}

// Hosts reach each other; a partition, an isolation and a one-way drop
// cut exactly what they say, by timeout (no reset); Heal restores every
// path.
func TestFaults(t *testing.T) {
	n := New(t)
	a, b, c := n.Host("a"), n.Host("b"), n.Host("c")
	for _, h := range []*Host{a, b, c} {
		cmd := h.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), "NETSIM_ECHO="+h.Addr+":7000")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "listening\n" {
			t.Fatalf("echo on %s: %q %v", h.Name, line, err)
		}
	}
	// reach reports whether from reaches to's echo; a path that is cut
	// times out (no reset).
	reach := func(from, to *Host) bool {
		t.Helper()
		cmd := from.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), "NETSIM_DIAL="+to.Addr+":7000")
		out, err := cmd.CombinedOutput()
		if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if err != nil && !bytes.Contains(out, []byte("timeout")) {
			t.Fatalf("%s to %s: %s, want a timeout (a dropped packet, no reset)", from.Name, to.Name, out)
		}
		return err == nil
	}
	type path struct{ from, to *Host }
	check := func(what string, cut ...path) {
		t.Helper()
		for _, from := range []*Host{a, b, c} {
			for _, to := range []*Host{a, b, c} {
				if from == to {
					continue
				}
				want := true
				for _, p := range cut {
					if p.from == from && p.to == to {
						want = false
					}
				}
				if got := reach(from, to); got != want {
					t.Errorf("%s: %s reaches %s: %v, want %v", what, from.Name, to.Name, got, want)
				}
			}
		}
	}
	check("a healthy network")
	n.Partition([]*Host{a}, []*Host{b})
	check("a cut from b", path{a, b}, path{b, a})
	n.Heal()
	check("healed")
	n.Isolate(c)
	check("c isolated", path{a, c}, path{b, c}, path{c, a}, path{c, b})
	n.Heal()
	// One way: b's packets never reach a, so neither b's connection to a
	// nor a's to b completes (a TCP handshake needs both ways).
	n.OneWay(b, a)
	check("b to a dropped", path{b, a}, path{a, b})
	n.Heal()
	check("healed again")
}
