// Package team is the plumbing the example programs share: a foreman and
// the workers it claimed, on a running park server or on an embedded one
// with in-process workmen, and the command-line flags that choose.
package team

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/progress"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Options say where a job runs.
type Options struct {
	// Park is the park server's URL. If blank, Open starts an embedded park
	// server and the workers asked for as in-process workmen.
	Park string
	// Security is how the foreman authenticates to the park server and the
	// workers (and the embedded ones' token and TLS).
	Security security.Config
	// Wait is how long to wait at a park server for the workers asked for
	// before running with those there are. If zero, 10 s.
	Wait time.Duration
	// Mode is the embedded workmen's mode (workman.ModeMesh if blank).
	Mode string
	// DataDir is the directory the embedded workmen read files in (blank:
	// the working directory).
	DataDir string
	// Capacity is each embedded workman's capacity (0: workman's default).
	Capacity int
	// Logger receives logs. If nil, nothing is logged.
	Logger *zap.Logger
	// Metrics, if set, gets the foreman's and the embedded workmen's
	// Prometheus metrics.
	Metrics prometheus.Registerer
	// Progress, if set, gets each job's progress (foreman.OnProgress).
	Progress func(foreman.Progress)
}

// Need is N workers of Type; Worker makes one for an embedded workman.
type Need struct {
	Type   string
	N      int
	Worker func() workman.Worker
}

// Team is a foreman and the workers it claimed.
type Team struct {
	Foreman *foreman.Foreman
	// Workers are the claimed workers by type, in the order the park gave
	// them.
	Workers map[string][]*foreman.Workman
	// Embedded are the in-process workmen (nil on a running park).
	Embedded []*workman.Workman

	o    Options
	stop func()
}

// Open dials the park (or starts an embedded one with the workers) and
// claims the workers needed: all of them, or on a running park those
// there are after o.Wait, at least one of each type.
func Open(ctx context.Context, o Options, needs ...Need) (_ *Team, err error) {
	if o.Wait == 0 {
		o.Wait = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	for _, n := range needs {
		if n.N < 1 {
			return nil, fmt.Errorf("%d workers of type %s", n.N, n.Type)
		}
	}
	// A token in the URL goes with the rest of the security settings, out
	// of every message that names the URL.
	if o.Park, err = o.Security.TakeURL(o.Park); err != nil {
		return nil, err
	}
	t := &Team{Workers: make(map[string][]*foreman.Workman), o: o, stop: func() {}}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if o.Park == "" {
		if err := t.embed(ctx, needs); err != nil {
			return nil, err
		}
	}
	if t.Foreman, err = foreman.Dial(ctx, t.o.Park, foreman.Config{Security: o.Security, Logger: o.Logger, Metrics: o.Metrics}); err != nil {
		return nil, err
	}
	for _, n := range needs {
		wctx, cancel := context.WithTimeout(ctx, o.Wait)
		ws, err := t.Foreman.WaitWorkers(wctx, n.Type, n.N)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("waited %v for workers of type %s: %w", o.Wait, n.Type, err)
		}
		if len(ws) < n.N {
			o.Logger.Warn("running with fewer workers than asked", zap.String("type", n.Type),
				zap.Int("workers", len(ws)), zap.Int("asked", n.N))
		}
		t.Workers[n.Type] = ws
	}
	return t, nil
}

// embed starts a park server on a free port and the workmen needed.
func (t *Team) embed(ctx context.Context, needs []Need) error {
	o := t.o
	park, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:0", Token: o.Security.Token, TLS: o.Security.TLS, Logger: o.Logger})
	if err != nil {
		return err
	}
	if err := park.Start(ctx); err != nil {
		return err
	}
	t.stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, wm := range t.Embedded {
			_ = wm.Shutdown(sctx)
		}
		_ = park.Shutdown(sctx)
	}
	t.o.Park = park.ClientURL()
	for _, n := range needs {
		for range n.N {
			wm, err := workman.New(workman.Config{
				Type: n.Type, ParkURL: t.o.Park, Security: o.Security, Mode: o.Mode, DataDir: o.DataDir,
				Capacity: o.Capacity, Logger: o.Logger, Metrics: o.Metrics,
			}, n.Worker())
			if err == nil {
				err = wm.Start(ctx)
			}
			if err != nil {
				return err
			}
			t.Embedded = append(t.Embedded, wm)
		}
	}
	return nil
}

// RunOptions are the options of a Run of the job named name: its name
// and its progress, then more.
func (t *Team) RunOptions(name string, more ...foreman.RunOption) []foreman.RunOption {
	opts := []foreman.RunOption{foreman.JobName(name)}
	if t.o.Progress != nil {
		opts = append(opts, foreman.OnProgress(t.o.Progress))
	}
	return append(opts, more...)
}

// Close releases the workers and closes the foreman, and stops the
// embedded park and workmen, if any.
func (t *Team) Close() {
	if t.Foreman != nil {
		_ = t.Foreman.Close()
	}
	t.stop()
}

// Flags are the flags every example command has: where to run (-park,
// the security flags, -wait, -mode), -workers, progress (-q), logs (-v,
// -log-level, -log-format) and -metrics.
type Flags struct {
	Workers int
	o       Options
	quiet   *bool
	verbose *bool
	log     *cmdflag.Log
	metrics *cmdflag.Metrics
}

// NewFlags registers the flags on fs; workers is -workers' default.
func NewFlags(fs *flag.FlagSet, workers int) *Flags {
	f := &Flags{}
	fs.StringVar(&f.o.Park, "park", "", "park server URL (blank: start an embedded park server and in-process workers)")
	fs.IntVar(&f.Workers, "workers", workers, "number of workers")
	fs.DurationVar(&f.o.Wait, "wait", 10*time.Second, "with -park: how long to wait for -workers workers before running with those there are")
	fs.StringVar(&f.o.Mode, "mode", workman.ModeMesh, "mode of the embedded workers: mesh or hub")
	f.o.Security.ClientFlags(fs)
	f.quiet = fs.Bool("q", false, "no progress on stderr (a bar on a terminal, else a line every 5 s)")
	f.verbose = fs.Bool("v", false, "log at -log-level info")
	f.log = cmdflag.LogFlags(fs, "warn", "console")
	f.metrics = cmdflag.MetricsFlag(fs, "the foreman (and embedded workmen)")
	return f
}

// Options returns the Options the flags ask for, with a logger, metrics
// and progress on stderr, and a function to call at the end.
func (f *Flags) Options() (Options, func(), error) {
	if f.Workers < 1 {
		return Options{}, nil, fmt.Errorf("-workers %d: at least 1", f.Workers)
	}
	if *f.verbose {
		f.log.SetLevel("info")
	}
	log, err := f.log.Logger()
	if err != nil {
		return Options{}, nil, err
	}
	reg, _, stop, err := f.metrics.Serve(log)
	if err != nil {
		return Options{}, nil, err
	}
	o := f.o
	o.Logger, o.Metrics, o.Progress = log, reg, progress.Stderr(*f.quiet)
	return o, func() { stop(); _ = log.Sync() }, nil
}

// Run runs a command's job: with the Options the flags ask for and a
// context that SIGINT and SIGTERM cancel, then exits as Exit does.
func (f *Flags) Run(name string, job func(ctx context.Context, o Options) error) {
	o, done, err := f.Options()
	if err != nil {
		Exit(name, fmt.Errorf("%w: %w", ErrUsage, err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = job(ctx, o)
	stop()
	done()
	Exit(name, err)
}

// ParseNoArgs parses the command line of a command that takes flags only,
// exiting with status 2 on a bad flag or any other argument.
func ParseNoArgs(fs *flag.FlagSet) {
	cmdflag.Parse(fs, os.Args[1:])
	if fs.NArg() > 0 {
		Exit(fs.Name(), fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args()))
	}
}

// ErrUsage marks an error in the command line: exit status 2.
var ErrUsage = errors.New("usage")

// Exit prints err (if any) after the command's name and exits: 0 without
// an error, 2 for ErrUsage, 1 otherwise.
func Exit(name string, err error) {
	if err == nil {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	if errors.Is(err, ErrUsage) {
		os.Exit(2)
	}
	os.Exit(1)
}

// Files prepares the paths of files the workers read or write: on an
// embedded park (no o.Park) they are made absolute and o.DataDir becomes
// their common directory, where the embedded workmen may read and write;
// on a running park they are the workers' business and stay as they are.
func (o *Options) Files(paths ...string) ([]string, error) {
	if o.Park != "" {
		return paths, nil
	}
	abs := make([]string, len(paths))
	for i, p := range paths {
		var err error
		if abs[i], err = filepath.Abs(p); err != nil {
			return nil, err
		}
	}
	o.DataDir = CommonDir(abs)
	return abs, nil
}

// CommonDir returns the innermost directory that holds every (absolute)
// path: the embedded workmen's data directory for jobs on those files.
func CommonDir(paths []string) string {
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
