package cmdflag

import (
	"flag"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

func TestLogFlags(t *testing.T) {
	for _, c := range []struct {
		args  []string
		level zapcore.Level
		err   string
	}{
		{nil, zapcore.InfoLevel, ""},
		{[]string{"-log-level", "debug", "-log-format", "console"}, zapcore.DebugLevel, ""},
		{[]string{"-log-level", "error"}, zapcore.ErrorLevel, ""},
		{[]string{"-log-level", "loud"}, 0, "-log-level"},
		{[]string{"-log-level", "fatal"}, 0, "-log-level"},
		{[]string{"-log-format", "xml"}, 0, "-log-format"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		l := LogFlags(fs, "info", "json")
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		log, err := l.Logger()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error naming %s", c.args, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if !log.Core().Enabled(c.level) || c.level > zapcore.DebugLevel && log.Core().Enabled(c.level-1) {
			t.Errorf("%q: the logger's level is not %v", c.args, c.level)
		}
	}
}

// -log-format auto is console on a terminal and JSON (with readable
// times) elsewhere; the flag overrides either way.
func TestLogFormatAuto(t *testing.T) {
	defer func(f func() bool) { stderrIsTerminal = f }(stderrIsTerminal)
	for _, c := range []struct {
		terminal bool
		args     []string
		want     string
	}{
		{true, nil, "console"},
		{false, nil, "json"},
		{true, []string{"-log-format", "json"}, "json"},
		{false, []string{"-log-format", "console"}, "console"},
	} {
		stderrIsTerminal = func() bool { return c.terminal }
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		l := LogFlags(fs, "info", "auto")
		if err := fs.Parse(c.args); err != nil {
			t.Fatal(err)
		}
		cfg, err := l.config()
		if err != nil || cfg.Encoding != c.want {
			t.Fatalf("terminal %v, %q: %q (%v), want %q", c.terminal, c.args, cfg.Encoding, err, c.want)
		}
		enc := zapcore.NewJSONEncoder(cfg.EncoderConfig)
		buf, err := enc.EncodeEntry(zapcore.Entry{Time: time.Date(2026, 12, 6, 3, 4, 5, 0, time.UTC), Message: "m"}, nil)
		if err != nil || !strings.Contains(buf.String(), "2026-12-06T03:04:05") {
			t.Fatalf("%s: the time is not readable: %s", c.want, buf)
		}
	}
}

func TestMetricsFlagOff(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	m := MetricsFlag(fs, "x")
	reg, addr, stop, err := m.Serve(nil)
	if reg != nil || addr != nil || err != nil {
		t.Fatalf("without -metrics: %v %v %v, want nothing", reg, addr, err)
	}
	stop()
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	m2 := MetricsFlag(fs2, "x")
	if err := fs2.Parse([]string{"-metrics", "256.0.0.1:http"}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := m2.Serve(nil); err == nil || !strings.Contains(err.Error(), "-metrics") {
		t.Fatalf("a bad address: %v, want an error naming -metrics", err)
	}
}
