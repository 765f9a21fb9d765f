package slowlink

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo serves on 127.0.0.1, sending back what it reads, until the test
// ends.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(c, c)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// TestDelaysInOrder: 4 MiB through the proxy and back, with 20 ms +- 10 ms
// each way, come back whole and in order, and a round trip takes at least
// the least delay twice.
func TestDelaysInOrder(t *testing.T) {
	p, err := Listen("127.0.0.1:0", echo(t), 20*time.Millisecond, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
		t.Fatalf("read %q, %v", b, err)
	}
	if rtt := time.Since(start); rtt < 20*time.Millisecond {
		t.Fatalf("a round trip took %v, less than the least delay each way (10 ms) twice", rtt)
	}
	want := make([]byte, 4<<20)
	for i := range want {
		want[i] = byte(i * 7 / 3)
	}
	go func() { _, _ = c.Write(want) }()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes came back changed or out of order")
	}
}

func TestRefusesJitterAboveDelay(t *testing.T) {
	if _, err := Listen("127.0.0.1:0", "127.0.0.1:1", time.Millisecond, 2*time.Millisecond); err == nil {
		t.Fatal("a jitter above the delay was taken")
	}
}
