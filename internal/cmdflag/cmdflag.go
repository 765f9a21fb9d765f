// Package cmdflag holds the flags every long-running command has alike:
// logging (-log-level, -log-format) and metrics (-metrics).
package cmdflag

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Log is the logging flags.
type Log struct {
	level, format string
}

// LogFlags registers -log-level and -log-format on fs, with defaults
// level and format.
func LogFlags(fs *flag.FlagSet, level, format string) *Log {
	l := &Log{}
	fs.StringVar(&l.level, "log-level", level, "least level logged: debug, info, warn or error")
	fs.StringVar(&l.format, "log-format", format, "log format: json (one object a line) or console (for people)")
	return l
}

// SetLevel sets the level, as if by -log-level.
func (l *Log) SetLevel(level string) { l.level = level }

// Logger returns the logger the flags ask for, writing to stderr, or an
// error naming the bad flag.
func (l *Log) Logger() (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(l.level)
	if err != nil || lvl > zapcore.ErrorLevel {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", l.level)
	}
	var cfg zap.Config
	switch l.format {
	case "json":
		cfg = zap.NewProductionConfig()
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
	default:
		return nil, fmt.Errorf("-log-format %q: want json or console", l.format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
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
