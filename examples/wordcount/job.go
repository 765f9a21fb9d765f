package wordcount

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Options configure Count.
type Options struct {
	// Park is the park server's URL. If blank, Count starts an embedded park
	// server and Workers in-process workmen, and works alone.
	Park string
	// Security is how Count authenticates to the park server and the
	// workers (and the embedded ones' token and TLS).
	Security security.Config
	// Workers is how many workers to use. If zero, it defaults to 2.
	Workers int
	// Mode is the embedded workmen's mode (workman.ModeMesh if blank).
	Mode string
	// Ship puts each range's bytes in its task instead of its file offsets.
	Ship bool
	// PartSize is the size of one task's range. If zero, DefaultPartSize.
	PartSize int64
	// Wait is how long to wait for Workers workers at a park server before
	// running with those there are. If zero, 10s.
	Wait time.Duration
	// Logger receives logs. If nil, nothing is logged.
	Logger *zap.Logger
	// Metrics, if set, gets the foreman's and the embedded workmen's
	// Prometheus metrics.
	Metrics prometheus.Registerer
	// Progress, if set, gets the job's progress as it runs (see
	// foreman.OnProgress).
	Progress func(foreman.Progress)
}

// Count counts the words of the files on a cluster (or an embedded one).
func Count(ctx context.Context, o Options, paths ...string) (map[string]int64, error) {
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.Workers < 0 {
		return nil, fmt.Errorf("wordcount: %d workers", o.Workers)
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.Wait == 0 {
		o.Wait = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if len(paths) == 0 {
		return nil, errors.New("wordcount: no files")
	}
	// A token in the URL goes with the rest of the security settings, out
	// of every message that names the URL.
	var err error
	if o.Park, err = o.Security.TakeURL(o.Park); err != nil {
		return nil, err
	}
	if o.Park == "" {
		// The embedded workers read the files where this process sees them.
		abs := make([]string, len(paths))
		for i, p := range paths {
			if abs[i], err = filepath.Abs(p); err != nil {
				return nil, fmt.Errorf("wordcount: %w", err)
			}
		}
		paths = abs
		stop, url, err := startEmbedded(ctx, o, commonDir(paths))
		if err != nil {
			return nil, err
		}
		defer stop()
		o.Park = url
	}
	f, err := foreman.Dial(ctx, o.Park, foreman.Config{Security: o.Security, Logger: o.Logger, Metrics: o.Metrics})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	wctx, cancel := context.WithTimeout(ctx, o.Wait)
	ws, err := f.WaitWorkers(wctx, Type, o.Workers)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("wordcount: waited %v at %s: %w", o.Wait, o.Park, err)
	}
	if len(ws) < o.Workers {
		o.Logger.Warn("running with fewer workers than asked", zap.Int("workers", len(ws)), zap.Int("asked", o.Workers))
	}
	opts := []foreman.RunOption{foreman.JobName("wordcount")}
	if o.Progress != nil {
		opts = append(opts, foreman.OnProgress(o.Progress))
	}
	res, err := f.Run(ctx, ws, Splitter(paths, o.PartSize, o.Ship), Combiner(), opts...)
	if err != nil {
		return nil, err
	}
	counts, _ := res.Counts(KeyCounts)
	if counts == nil {
		counts = map[string]int64{}
	}
	return counts, nil
}

// commonDir returns the innermost directory that holds every (absolute)
// path: the embedded workmen's data directory.
func commonDir(paths []string) string {
	var dir string
	for i, p := range paths {
		d := filepath.Dir(p)
		if i == 0 {
			dir = d
			continue
		}
		for dir != d && !strings.HasPrefix(d, dir+string(filepath.Separator)) && dir != filepath.Dir(dir) {
			dir = filepath.Dir(dir)
		}
	}
	return dir
}

// startEmbedded starts a park server on a free port and o.Workers workmen
// that read files in dataDir.
func startEmbedded(ctx context.Context, o Options, dataDir string) (stop func(), url string, err error) {
	park, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:0", Token: o.Security.Token, TLS: o.Security.TLS, Logger: o.Logger})
	if err != nil {
		return nil, "", err
	}
	if err := park.Start(ctx); err != nil {
		return nil, "", err
	}
	var wms []*workman.Workman
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, wm := range wms {
			_ = wm.Shutdown(sctx)
		}
		_ = park.Shutdown(sctx)
	}
	for range o.Workers {
		wm, err := workman.New(workman.Config{
			Type: Type, ParkURL: park.ClientURL(), Security: o.Security, Mode: o.Mode, DataDir: dataDir, Logger: o.Logger, Metrics: o.Metrics,
		}, Worker())
		if err == nil {
			err = wm.Start(ctx)
		}
		if err != nil {
			stop()
			return nil, "", err
		}
		wms = append(wms, wm)
	}
	return stop, park.ClientURL(), nil
}
