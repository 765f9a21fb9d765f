package e2e

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/tracing"
	"go.opentelemetry.io/otel"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// collector is an OTLP/HTTP trace receiver: it decodes the export
// requests and keeps, for each trace, its spans' names and the processes
// (service name and pid) they came from.
type collector struct {
	url string

	mu     sync.Mutex
	traces map[string]map[string]bool // trace id: "service pid name" of each span
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{url: "http://" + ln.Addr().String(), traces: map[string]map[string]bool{}}
	srv := &http.Server{Handler: http.HandlerFunc(c.export), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

func (c *collector) export(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "not an OTLP trace export", http.StatusNotFound)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, 16<<20)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = io.LimitReader(gz, 64<<20)
	}
	data, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(data, &req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		var service, pid string
		for _, kv := range rs.GetResource().GetAttributes() {
			switch kv.GetKey() {
			case "service.name":
				service = kv.GetValue().GetStringValue()
			case "process.pid":
				pid = fmt.Sprint(kv.GetValue().GetIntValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				id := fmt.Sprintf("%x", s.GetTraceId())
				if c.traces[id] == nil {
					c.traces[id] = map[string]bool{}
				}
				c.traces[id][service+" "+pid+" "+s.GetName()] = true
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// trace returns the spans of the trace that has a span named name.
func (c *collector) trace(name string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, spans := range c.traces {
		for s := range spans {
			if strings.HasSuffix(s, " "+name) {
				var all []string
				for s := range spans {
					all = append(all, s)
				}
				return all
			}
		}
	}
	return nil
}

// One trace across processes: a park server, two workmen and a foreman
// (this process) export OTLP/HTTP to a receiver here; a word count's trace
// has the foreman's job and task spans and each workman's DoTask spans,
// from three processes.
func TestTraceAcrossProcesses(t *testing.T) {
	col := startCollector(t)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "100") // the children export within 100 ms
	_, line := start(t, "park server ready at ", "parkserver", "-listen", "127.0.0.1:0", "-store", t.TempDir(), "-otlp", col.url)
	url := strings.TrimPrefix(line, "park server ready at ")
	for _, id := range []string{"w0", "w1"} {
		start(t, " ready", "workman", "-park", url, "-type", "wordcount", "-id", id, "-capacity", "2", "-otlp", col.url)
	}
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	stop, err := tracing.Start(context.Background(), "foreman", col.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })
	f, ws := dialForeman(t, url, 2, "wordcount")
	text := genText(t, 256<<10)
	if _, err := f.Run(context.Background(), ws, wordcount.Splitter([]string{text}, 16<<10, false), wordcount.Combiner(),
		foreman.JobName("traced-count")); err != nil {
		t.Fatal(err)
	}
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var spans []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans = col.trace("job traced-count")
		// The foreman's job and task spans, and DoTask spans of two
		// workman processes.
		var foremanJob, foremanTask bool
		workmen := map[string]bool{}
		for _, s := range spans {
			switch f := strings.Fields(s); {
			case f[0] == "foreman" && f[2] == "job":
				foremanJob = true
			case f[0] == "foreman" && f[2] == "task":
				foremanTask = true
			case f[0] == "workman" && f[2] == "DoTask":
				workmen[f[1]] = true
			}
		}
		if foremanJob && foremanTask && len(workmen) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trace of the job with spans from the foreman and both workmen; its spans: %q", spans)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the job's trace: %q", spans)
}
