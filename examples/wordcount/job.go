package wordcount

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/security"
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
	if len(paths) == 0 {
		return nil, errors.New("wordcount: no files")
	}
	to := team.Options{Park: o.Park, Security: o.Security, Wait: o.Wait, Mode: o.Mode, Logger: o.Logger, Metrics: o.Metrics, Progress: o.Progress}
	paths, err := to.Files(paths...)
	if err != nil {
		return nil, fmt.Errorf("wordcount: %w", err)
	}
	t, err := team.Open(ctx, to, team.Need{Type: Type, N: o.Workers, Worker: Worker})
	if err != nil {
		return nil, fmt.Errorf("wordcount: %w", err)
	}
	defer t.Close()
	res, err := t.Foreman.Run(ctx, t.Workers[Type], Splitter(paths, o.PartSize, o.Ship), Combiner(), t.RunOptions("wordcount")...)
	if err != nil {
		return nil, err
	}
	counts, _ := res.Counts(KeyCounts)
	if counts == nil {
		counts = map[string]int64{}
	}
	return counts, nil
}
