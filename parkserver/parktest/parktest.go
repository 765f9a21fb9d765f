// Package parktest starts park servers, workmen and foremen in-process for
// tests, on 127.0.0.1 with free ports, and stops them with t.Cleanup.
package parktest

import (
	"context"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/workman"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// StartPark starts a park server with cfg; a blank Listen becomes
// 127.0.0.1:0, a blank StoreDir a test temp dir.
func StartPark(t testing.TB, cfg parkserver.Config) *parkserver.Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("park")
	}
	s, err := parkserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// StartWorkman starts a workman of w registered with the park at parkURL;
// a blank cfg.ParkURL is set to it.
func StartWorkman(t testing.TB, parkURL string, cfg workman.Config, w workman.Worker) *workman.Workman {
	t.Helper()
	if cfg.ParkURL == "" {
		cfg.ParkURL = parkURL
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("workman")
	}
	wm, err := workman.New(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := wm.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = wm.Shutdown(ctx)
	})
	return wm
}

// NewForeman returns a foreman on the park at parkURL, closed at cleanup.
func NewForeman(t testing.TB, parkURL string, cfg foreman.Config) *foreman.Foreman {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("foreman")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := foreman.Dial(ctx, parkURL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// Cluster is a park server with workmen of one type.
type Cluster struct {
	Park    *parkserver.Server
	URL     string
	Workmen []*workman.Workman
}

// Start starts a park server and n workmen of w, configured by cfg (Type
// and Mode from cfg; ID and ParkURL are filled in).
func Start(t testing.TB, n int, cfg workman.Config, w workman.Worker) *Cluster {
	t.Helper()
	p := StartPark(t, parkserver.Config{})
	c := &Cluster{Park: p, URL: p.ClientURL()}
	for range n {
		c.Workmen = append(c.Workmen, StartWorkman(t, c.URL, cfg, w))
	}
	return c
}

// Claim claims n waiting workers of type typ for f, and fails the test
// unless it got exactly n.
func Claim(t testing.TB, f *foreman.Foreman, typ string, n int) []*foreman.Workman {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, err := f.GetWaitingWorkers(ctx, typ, n)
	if err != nil || len(ws) != n {
		t.Fatalf("claimed %d waiting workers of type %q (%v), want %d", len(ws), typ, err, n)
	}
	return ws
}
