package metrics_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"testing"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// value returns the value of family name's series with labels (a counter,
// a gauge, or a histogram's count).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no %s in the metrics", name)
	}
next:
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no %s%v in the metrics", name, labels)
	return 0
}

// A job of five tasks, one of which fails twice (retried once), on a
// workman and a foreman sharing a -metrics server: the scraped text, read
// with Prometheus's own parser, counts exactly that.
func TestWorkmanAndForemanMetrics(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	mf := cmdflag.MetricsFlag(fs, "the test")
	if err := fs.Parse([]string{"-metrics", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	reg, addr, stop, err := mf.Serve(zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	park := parktest.StartPark(t, parkserver.Config{})
	failing := workman.WorkerFunc(func(_ context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		if in.Has("fail") {
			return nil, errors.New("asked to fail")
		}
		out := warehouse.New()
		out.SetString("ok", "yes")
		return out, nil
	})
	parktest.StartWorkman(t, park.ClientURL(), workman.Config{Type: "m", ID: "w1", Capacity: 2, Metrics: reg}, failing)
	f := parktest.NewForeman(t, park.ClientURL(), foreman.Config{ID: "f1", Metrics: reg})
	ws, err := f.GetWaitingWorkers(t.Context(), "m", 1)
	if err != nil {
		t.Fatal(err)
	}
	bad := warehouse.New()
	bad.SetString("fail", "yes")
	tasks := splitter.Tasks(warehouse.New(), warehouse.New(), bad, warehouse.New(), warehouse.New())
	keep := combiner.Func(func(acc, _ *warehouse.Warehouse) (*warehouse.Warehouse, error) { return acc, nil })
	var jerr *foreman.JobError
	if _, err := f.Run(t.Context(), ws, tasks, keep, foreman.Retries(1), foreman.ContinueOnError()); !errors.As(err, &jerr) || len(jerr.Failed) != 1 {
		t.Fatalf("Run = %v, want one failed task", err)
	}

	resp, err := http.Get("http://" + addr.String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	w, fm := map[string]string{"workman": "w1", "type": "m"}, map[string]string{"foreman": "f1"}
	with := func(base map[string]string, k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range base {
			m[a] = b
		}
		return m
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"fourinone_workman_tasks_total", with(w, "outcome", "ok"), 4},
		{"fourinone_workman_tasks_total", with(w, "outcome", "exception"), 2},
		{"fourinone_workman_task_seconds", w, 6},
		{"fourinone_workman_capacity_slots", w, 2},
		{"fourinone_workman_busy_slots", w, 0},
		{"fourinone_foreman_task_attempts_total", with(fm, "outcome", "done"), 4},
		{"fourinone_foreman_task_attempts_total", with(fm, "outcome", "exception"), 2},
		{"fourinone_foreman_task_seconds", fm, 4},
		{"fourinone_foreman_task_reruns_total", with(fm, "reason", "retry"), 1},
		{"fourinone_foreman_jobs_total", with(fm, "state", "done"), 1},
		{"fourinone_foreman_jobs_running", fm, 0},
		{"fourinone_foreman_claimed_slots", fm, 2},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// What the foreman sent is what the workman received, and back.
	sent, got := value(t, fams, "fourinone_foreman_bytes_total", with(fm, "direction", "out")), value(t, fams, "fourinone_workman_bytes_total", with(w, "direction", "in"))
	if sent == 0 || sent != got {
		t.Errorf("foreman sent %v bytes, workman received %v", sent, got)
	}
	back, recv := value(t, fams, "fourinone_workman_bytes_total", with(w, "direction", "out")), value(t, fams, "fourinone_foreman_bytes_total", with(fm, "direction", "in"))
	if back == 0 || back != recv {
		t.Errorf("workman sent %v bytes, foreman received %v", back, recv)
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}
