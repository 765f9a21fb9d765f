package wire

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// setup starts a server, a wire.Server serving echo on "echo" (and errors
// on "fail"), and a Client.
func setup(t *testing.T, maxSize int) (*nats.Conn, *Client) {
	t.Helper()
	ns, err := StartServer(ServerConfig{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	serveNC, err := Connect(ns.ClientURL(), ConnOptions{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(serveNC.Close)
	srv := NewServer(serveNC, maxSize, zaptest.NewLogger(t))
	t.Cleanup(func() { srv.Close(context.Background()) })
	if err := srv.Handle("echo", func(ctx context.Context, r Request) ([]byte, error) {
		return append(append([]byte{}, r.Meta...), r.Body...), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle("fail", func(ctx context.Context, r Request) ([]byte, error) {
		return nil, errors.New("nope")
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Handle("block", func(ctx context.Context, r Request) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.HandleCancel("cancel"); err != nil {
		t.Fatal(err)
	}
	if err := serveNC.Flush(); err != nil {
		t.Fatal(err)
	}
	nc, err := Connect(ns.ClientURL(), ConnOptions{Token: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c, err := NewClient(nc, maxSize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return nc, c
}

func TestCall(t *testing.T) {
	_, c := setup(t, 32<<20)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16) // several chunks
	tests := []struct {
		name       string
		meta, body []byte
	}{
		{"empty", nil, nil},
		{"small", []byte("m"), []byte("hello")},
		{"chunked", []byte("meta"), big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := c.Call(ctx, "echo", "", tt.meta, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			want := append(append([]byte{}, tt.meta...), tt.body...)
			if !bytes.Equal(got, want) {
				t.Fatalf("echo returned %d bytes, want %d", len(got), len(want))
			}
		})
	}
}

func TestCallErrors(t *testing.T) {
	_, c := setup(t, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Call(ctx, "fail", "", nil, []byte("x"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "nope" {
		t.Fatalf("fail: %v", err)
	}
	if _, err := c.Call(ctx, "echo", "", nil, make([]byte, 1<<20+1)); err == nil || !strings.Contains(err.Error(), "exceeds the limit of 1048576 bytes") {
		t.Fatalf("oversized call: %v", err)
	}
	// Nobody serves the subject: the server says so at once.
	if _, err := c.Call(ctx, "nobody.home", "", nil, []byte("x")); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("call to an unserved subject: %v, want ErrNoResponders", err)
	}
	// Cancelling the caller cancels the handler, which then returns.
	cctx, ccancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := c.Call(cctx, "block", "cancel", nil, nil); done <- err }()
	ccancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
}

func TestMalformedFrames(t *testing.T) {
	nc, c := setup(t, 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A meta length past the end of the frame: a RemoteError, not a panic.
	reply, err := nc.Request("echo", []byte{0, 0xff, 0x01}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(reply.Data) == 0 || reply.Data[0]&flagError == 0 || !strings.Contains(string(reply.Data[1:]), "malformed") {
		t.Fatalf("reply to a malformed frame = %q", reply.Data)
	}
	// The server still serves.
	if got, err := c.Call(ctx, "echo", "", nil, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("after malformed frames: %q, %v", got, err)
	}
}

// TestConcurrentChunkedCalls interleaves the chunks of several big calls on
// one connection; each must come back whole and its own.
func TestConcurrentChunkedCalls(t *testing.T) {
	_, c := setup(t, 32<<20)
	const n = 4
	errs := make(chan error, n)
	for i := range n {
		go func() {
			body := bytes.Repeat([]byte{byte('a' + i)}, 18<<20+i) // three chunks each
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := c.Call(ctx, "echo", "", []byte{byte(i)}, body)
			if err == nil && (len(got) != len(body)+1 || got[0] != byte(i) || !bytes.Equal(got[1:], body)) {
				err = errors.New("a reply came back mixed or cut")
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
