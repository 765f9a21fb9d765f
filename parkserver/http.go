package parkserver

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// webFiles are the dashboard's page, script and style.
//
//go:embed web
var webFiles embed.FS

// startHTTP serves the dashboard on addr: / (the live page, from files
// embedded in the binary), /api/events (its server-sent events),
// /api/state (the same view once, as JSON), /api/registry (members as
// JSON), /api/cluster, /metrics (Prometheus text) and /healthz.
//
// It listens on loopback unless addr names another host, which needs
// Config.HTTPToken; with a token, everything but /healthz requires it as a
// bearer token or as the cookie that opening /?token=TOKEN once sets.
func (s *Server) startHTTP(addr string) (*http.Server, net.Addr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: dashboard address %q: %v", ErrConfig, addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	open := host != "localhost" && (ip == nil || !ip.IsLoopback())
	if open && s.cfg.HTTPToken == "" {
		return nil, nil, fmt.Errorf("%w: a dashboard on %s (not loopback) needs an admin token (-http-token)", ErrConfig, host)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, nil, fmt.Errorf("parkserver: dashboard: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.healthy(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /api/cluster", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.clusterJSON())
	})
	mux.HandleFunc("GET /api/registry", func(w http.ResponseWriter, r *http.Request) {
		view, err := s.view(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(view)
	})
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(registryCollector{s})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(s.log)}))
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		v, err := s.live.view(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
	mux.HandleFunc("GET /api/events", s.live.serveEvents)
	mux.HandleFunc("GET /api/timeline", s.live.serveTimeline)
	static, _ := fs.Sub(webFiles, "web")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	var h http.Handler = mux
	if s.cfg.HTTPToken != "" {
		h = requireToken(s.cfg.HTTPToken, mux)
	}
	h = secureHeaders(h)
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("dashboard stopped", zap.Error(err))
		}
	}()
	return hs, ln.Addr(), nil
}

// secureHeaders sets, on every response, the headers that keep the
// dashboard's page to its own script and style (no inline script, no
// plugins, never in a frame), its responses from being sniffed as another
// type, and its address from other sites.
func secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// tokenCookie holds the dashboard's token in a browser.
const tokenCookie = "fourinone_token"

// requireToken serves /healthz to anyone and the rest to requests with
// "Authorization: Bearer <token>" or the token's cookie. A request with
// ?token=<token> gets the cookie (HttpOnly, this site only) and is sent
// back to its path without the token, so that it leaves the address bar
// and the history.
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	equal := func(s string) bool { return subtle.ConstantTimeCompare([]byte(s), []byte(token)) == 1 }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("token"); q != "" && equal(q) {
			http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			to := "/" + strings.TrimLeft(r.URL.Path, "/") // never "//host": another site
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		c, err := r.Cookie(tokenCookie)
		cookieOK := err == nil && equal(c.Value)
		if r.URL.Path != "/healthz" && !cookieOK && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="fourinone"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// healthy reports why the park cannot serve: its server stopped, or the
// registry bucket is gone (every heartbeat would fail).
func (s *Server) healthy(ctx context.Context) error {
	s.mu.Lock()
	ok := s.ns != nil && !s.stopped && s.ns.Running()
	s.mu.Unlock()
	if !ok {
		return errors.New("not running")
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.reg.Status(ctx); err != nil {
		return fmt.Errorf("the registry is unavailable: %v", err)
	}
	return nil
}

var (
	descMembers  = prometheus.NewDesc("fourinone_members", "Live members of the registry.", []string{"role", "type"}, nil)
	descCapacity = prometheus.NewDesc("fourinone_capacity_slots", "Task slots of live workmen.", []string{"type"}, nil)
	descClaimed  = prometheus.NewDesc("fourinone_claimed_slots", "Task slots claimed by foremen.", []string{"type"}, nil)
	descBusy     = prometheus.NewDesc("fourinone_busy_slots", "Task slots of live workmen running a task (as of their last heartbeat).", []string{"type"}, nil)
	descRejected = prometheus.NewDesc("fourinone_registry_rejected_entries", "Registry entries left out as malformed or absurd.", nil, nil)
	descJobs     = prometheus.NewDesc("fourinone_jobs", "Jobs the park keeps, by state.", []string{"state"}, nil)
	descBadJobs  = prometheus.NewDesc("fourinone_jobs_rejected_total", "Records of the jobs stream left out as malformed or absurd.", nil, nil)
	descStreams  = prometheus.NewDesc("fourinone_dashboard_streams", "Dashboards open (their event streams).", nil, nil)
	descRefused  = prometheus.NewDesc("fourinone_dashboard_streams_refused_total", "Event streams refused as over the limit (parkserver -http-streams).", nil, nil)
	descSlow     = prometheus.NewDesc("fourinone_slow_consumers_total", "Connections the park's NATS server cut off as slow consumers.", nil, nil)
)

// registryCollector exposes the registry, read at each scrape: live
// members by role and type, and the capacity and claimed slots of workmen
// by type.
type registryCollector struct{ s *Server }

func (c registryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descMembers
	ch <- descCapacity
	ch <- descClaimed
	ch <- descBusy
	ch <- descRejected
	ch <- descJobs
	ch <- descBadJobs
	ch <- descStreams
	ch <- descRefused
	ch <- descSlow
}

func (c registryCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := c.s.Snapshot(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descMembers, err)
		return
	}
	type key struct{ role, typ string }
	members := map[key]int{}
	capacity, claimed, busy := map[string]int{}, map[string]int{}, map[string]int{}
	for _, m := range snap.Members {
		members[key{m.Role, m.Type}]++
		if m.Role == registry.RoleWorkman {
			capacity[m.Type] += m.Capacity
			claimed[m.Type] += snap.Claimed(m.ID)
			busy[m.Type] += m.Busy
		}
	}
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.GaugeValue, float64(snap.Rejected))
	ch <- prometheus.MustNewConstMetric(descBadJobs, prometheus.CounterValue, float64(c.s.live.rejectedJobs()))
	open, refused := c.s.live.streams()
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(refused))
	for state, n := range c.s.live.byState() {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(n), state)
	}
	if slow, ok := c.s.slowConsumers(); ok {
		ch <- prometheus.MustNewConstMetric(descSlow, prometheus.CounterValue, float64(slow))
	}
	for k, n := range members {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(n), k.role, k.typ)
	}
	for typ, n := range capacity {
		ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(n), typ)
		ch <- prometheus.MustNewConstMetric(descClaimed, prometheus.GaugeValue, float64(claimed[typ]), typ)
		ch <- prometheus.MustNewConstMetric(descBusy, prometheus.GaugeValue, float64(busy[typ]), typ)
	}
}

type registryView struct {
	URL     string                `json:"url"`
	Lease   string                `json:"lease"`
	Members []registry.MemberView `json:"members"`
}

func (s *Server) view(ctx context.Context) (*registryView, error) {
	snap, err := s.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	v := &registryView{URL: s.ClientURL(), Lease: s.cfg.Lease.String(), Members: []registry.MemberView{}}
	now := time.Now()
	for _, m := range snap.Members {
		v.Members = append(v.Members, snap.View(m, now))
	}
	return v, nil
}
