// Package cmdflag holds the flags every long-running command has alike:
// logging (-log-level, -log-format), metrics (-metrics) and traces
// (-otlp).
package cmdflag

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/fourinone-go/fourinone/internal/tracing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Log is the logging flags.
type Log struct {
	level, format string
}

// LogFlags registers -log-level and -log-format on fs, with defaults
// level and format ("auto": console when stderr is a terminal, else json).
func LogFlags(fs *flag.FlagSet, level, format string) *Log {
	l := &Log{}
	fs.StringVar(&l.level, "log-level", level, "least level logged: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", format, "log format: json (one object a line), console (for people), or auto (console on a terminal, else json)")
	return l
}

// stderrIsTerminal reports whether stderr is a terminal; a variable, for
// tests.
var stderrIsTerminal = func() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// SetLevel sets the level, as if by -log-level.
func (l *Log) SetLevel(level string) { l.level = level }

// Logger returns the logger the flags ask for, writing to stderr, or an
// error naming the bad flag.
func (l *Log) Logger() (*zap.Logger, error) {
	cfg, err := l.config()
	if err != nil {
		return nil, err
	}
	return cfg.Build()
}

func (l *Log) config() (zap.Config, error) {
	lvl, err := zapcore.ParseLevel(l.level)
	if err != nil || lvl > zapcore.ErrorLevel {
		return zap.Config{}, fmt.Errorf("-log-level %q: want debug, info, warn or error", l.level)
	}
	format := l.format
	if format == "auto" {
		format = "json"
		if stderrIsTerminal() {
			format = "console"
		}
	}
	var cfg zap.Config
	switch format {
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
	default:
		return zap.Config{}, fmt.Errorf("-log-format %q: want json, console or auto", l.format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg, nil
}

// Metrics is the -metrics flag: where to serve Prometheus metrics.
type Metrics struct{ addr string }

// MetricsFlag registers -metrics on fs.
func MetricsFlag(fs *flag.FlagSet, what string) *Metrics {
	m := &Metrics{}
	fs.StringVar(&m.addr, "metrics", "", "serve Prometheus metrics of "+what+" at http://ADDR/metrics, e.g. 127.0.0.1:9101 (blank: none)")
	return m
}

// Serve starts serving the metrics if asked, with the Go runtime's and
// the process's own, and returns the registry to register the command's
// metrics in (nil without -metrics), where it listens, and a function
// that stops it.
func (m *Metrics) Serve(log *zap.Logger) (prometheus.Registerer, net.Addr, func(), error) {
	if m.addr == "" {
		return nil, nil, func() {}, nil
	}
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("-metrics %s: %w", m.addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(log)}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", zap.Error(err))
		}
	}()
	log.Info("metrics served", zap.String("url", "http://"+ln.Addr().String()+"/metrics"))
	return reg, ln.Addr(), func() { _ = hs.Close() }, nil
}

// CheckID checks fs's flag name (an -id or a -name), if given, before
// anything uses it: `-id "a b.c*": use letters, digits, '-' and '_', at
// most 128`.
func CheckID(fs *flag.FlagSet, name string) error {
	v := fs.Lookup(name).Value.String()
	if v == "" {
		return nil
	}
	return names.ID("-"+name, v)
}

// Parse parses a command's flags from args and exits as commands do: 0
// after -h (the flag package printed the usage), 2 after a usage error
// (it printed the error).
func Parse(fs *flag.FlagSet, args []string) {
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	} else if err != nil {
		os.Exit(2)
	}
}

// Traces is the -otlp flag: OpenTelemetry traces (see internal/tracing).
type Traces struct{ endpoint string }

// TraceFlag registers -otlp on fs.
func TraceFlag(fs *flag.FlagSet) *Traces {
	t := &Traces{}
	fs.StringVar(&t.endpoint, "otlp", "", "export traces over OTLP to this collector: http://host:4318 (OTLP/HTTP) or grpc://host:4317 (blank: as the OTEL_EXPORTER_OTLP_* variables say; neither: no traces)")
	return t
}

// Start exports this process's spans as service, if traces are asked
// for; the returned func flushes what is left (call it before exiting).
// A collector that cannot be reached is logged once, and again each time
// its error changes.
func (t *Traces) Start(service string, log *zap.Logger) (flush func(), err error) {
	stop, err := tracing.Start(context.Background(), service, t.endpoint)
	if err != nil {
		return nil, err
	}
	if !tracing.Enabled(t.endpoint) {
		return func() {}, nil
	}
	var mu sync.Mutex
	last := ""
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if msg := err.Error(); msg != last {
			last = msg
			log.Warn("traces: the export failed; spans are dropped until it works", zap.Error(err))
		}
	}))
	where := "as OTEL_EXPORTER_OTLP_* say"
	if u, err := url.Parse(t.endpoint); err == nil && t.endpoint != "" {
		where = u.Redacted() // no password in the log
	}
	log.Info("exporting traces over OTLP", zap.String("to", where))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stop(ctx); err != nil {
			log.Warn("traces: the last spans were not exported", zap.Error(err))
		}
	}, nil
}
