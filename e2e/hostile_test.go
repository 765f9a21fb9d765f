package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// Hostile input: what a client with the token can send must not take a
// process past a fixed memory, and the process must go on serving.

const peakLimit = 300 << 20

// peakRSS returns a live process's peak resident set (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	peak := vmHWM(string(b))
	if peak == 0 {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	return peak
}

// vmHWM reads VmHWM from the text of /proc/PID/status, in bytes; 0 if it
// is not there.
func vmHWM(status string) int64 {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// amplifier is a Warehouse of size bytes whose one counts value claims an
// entry per two bytes left: a decoder that believed it would allocate
// dozens of times size.
func amplifier(size int) []byte {
	b := append([]byte("FW\x01\x00\x00\x01\x01k"), 8)
	b = binary.AppendUvarint(b, uint64(size/2-16))
	return append(b, bytes.Repeat([]byte{1}, size-len(b))...)
}

// sendPartial sends the first chunks of a request declaring size bytes and
// never its last chunk, as a sender that stalls mid-request does.
func sendPartial(nc *nats.Conn, subject string, size, send int) error {
	reply := nats.NewInbox()
	first := binary.AppendUvarint([]byte{1, 0}, uint64(size)) // more chunks; no meta; body size
	chunk := int(nc.MaxPayload()) - 64
	for sent := 0; sent < send; sent += chunk {
		var b []byte
		if sent == 0 {
			b = append(first, make([]byte, chunk)...)
		} else {
			b = append([]byte{1}, make([]byte, chunk)...)
		}
		if err := nc.PublishRequest(subject, reply, b); err != nil {
			return err
		}
	}
	return nc.Flush()
}

// workmanEndpoint reads a workman's endpoint from the registry.
func workmanEndpoint(t *testing.T, parkURL, id string) registry.Endpoint {
	t.Helper()
	return workmanEndpointWith(t, parkURL, parkConn(parkURL), id)
}

// workmanEndpointWith is workmanEndpoint connecting with opts.
func workmanEndpointWith(t *testing.T, parkURL string, opts wire.ConnOptions, id string) registry.Endpoint {
	t.Helper()
	reg := openOnParkWith(t, parkURL, opts, registry.Open)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := reg.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range snap.Workmen("") {
		if m.ID == id {
			return m.Endpoint
		}
	}
	t.Fatalf("workman %s is not in the registry", id)
	return registry.Endpoint{}
}

// TestHostileWorkmanMemory: a capacity-1 workman gets 4 amplifying 16 MiB
// Warehouses at once, then 8 chunked requests of 60 MiB that never finish
// (480 MiB declared, 320 MiB sent); its peak RSS stays under 300 MB and it
// then counts words exactly.
func TestHostileWorkmanMemory(t *testing.T) {
	for _, mode := range []string{"mesh", "hub"} {
		t.Run(mode, func(t *testing.T) {
			url := startPark(t)
			p, _ := start(t, " ready", "workman", "-type", "wordcount", "-park", url, "-mode", mode, "-capacity", "1", "-id", "victim")
			ep := workmanEndpoint(t, url, "victim")
			nc, err := wire.Connect(ep.URL, adminConn("attacker"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			c, err := wire.NewClient(nc, 64<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			var wg sync.WaitGroup
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() { _, errs[i] = c.Call(ctx, wire.TaskSubject(ep.Subject), "", nil, amplifier(16<<20)) })
			}
			wg.Wait()
			for _, err := range errs {
				// Malformed, or busy while another one held the budget.
				if err == nil || !strings.Contains(err.Error(), "malformed") && !strings.Contains(err.Error(), "busy") {
					t.Fatalf("an amplifying Warehouse got %v, want a malformed or busy error", err)
				}
			}
			t.Logf("%s workman peak RSS after the amplifiers: %.1f MB", mode, float64(peakRSS(t, p.cmd.Process.Pid))/1e6)
			for range 8 {
				if err := sendPartial(nc, wire.TaskSubject(ep.Subject), 60<<20, 40<<20); err != nil {
					t.Fatal(err)
				}
			}
			peak := peakRSS(t, p.cmd.Process.Pid)
			t.Logf("%s workman peak RSS after the attack: %.1f MB", mode, float64(peak)/1e6)
			if peak > peakLimit {
				t.Fatalf("peak RSS %d bytes, over %d", peak, peakLimit)
			}

			f, ws := dialForeman(t, url, 1, "wordcount")
			countJob(t, f, ws, genText(t, 16*taskBytes), func() {})
			if peak := peakRSS(t, p.cmd.Process.Pid); peak > peakLimit {
				t.Fatalf("peak RSS %d bytes after the word count, over %d", peak, peakLimit)
			}
		})
	}
}

// rogueWorkman registers a mesh-mode workman of type wordcount that answers
// every task with reply, and returns when the test ends.
func rogueWorkman(t *testing.T, parkURL string, reply []byte) {
	t.Helper()
	ns, err := wire.StartServer(wire.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	nc, err := wire.Connect(ns.ClientURL(), wire.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	prefix := wire.WorkmanPrefix("rogue")
	chunk := int(nc.MaxPayload()) - 64
	if _, err := nc.Subscribe(wire.TaskSubject(prefix), func(m *nats.Msg) {
		for body := reply; len(body) > 0; {
			n := min(len(body), chunk)
			flags := byte(0)
			if n < len(body) {
				flags = 1 // more
			}
			if nc.Publish(m.Reply, append([]byte{flags}, body[:n]...)) != nil {
				return
			}
			body = body[n:]
		}
	}); err != nil {
		t.Fatal(err)
	}
	park, err := wire.Connect(parkURL, adminConn("rogue"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(park.Close)
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := registry.Open(ctx, park)
	if err != nil {
		t.Fatal(err)
	}
	m := registry.Member{ID: "rogue", Role: registry.RoleWorkman, Type: "wordcount", Capacity: 1,
		State: registry.StateWaiting, Started: time.Now().UTC(),
		Endpoint: registry.Endpoint{URL: ns.ClientURL(), Subject: prefix, Mode: registry.ModeMesh}}
	if err := reg.Put(ctx, &m); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); reg.Heartbeat(ctx, func() registry.Member { return m }, zap.NewNop(), nil) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestHostileResultForemanMemory: a rogue worker answers with an amplifying
// 16 MiB result; the foreman fails the job with a clear error and its peak
// RSS stays under 300 MB.
func TestHostileResultForemanMemory(t *testing.T) {
	url := startPark(t)
	rogueWorkman(t, url, amplifier(16<<20))
	text := genText(t, 1<<20)
	cmd := exec.Command(filepath.Join(binDir, "wordcount"), withAuth("wordcount", []string{"-park", url, "-workers", "1", "-wait", "10s", text})...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// VmHWM only grows: the last read before the process exits is its peak
	// (rusage's maxrss would count the test process's pages the child
	// shared before exec).
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	var err error
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		case <-time.After(time.Millisecond):
			if b, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); rerr == nil {
				peak = max(peak, vmHWM(string(b)))
			}
		}
	}
	if err == nil || !strings.Contains(out.String(), "sent a bad result") || !strings.Contains(out.String(), "malformed") {
		t.Fatalf("foreman against a rogue worker: %v: %s", err, out.String())
	}
	t.Logf("foreman peak RSS: %.1f MB; it said: %s", float64(peak)/1e6, strings.TrimSpace(out.String()))
	if peak > peakLimit {
		t.Fatalf("foreman peak RSS %d bytes, over %d", peak, peakLimit)
	}
}
