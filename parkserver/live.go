package parkserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// What the live dashboard keeps: the jobs the park knows (the running ones
// and the last finishedShown finished ones) and the tasks done in each of
// the last throughputSeconds seconds, summed over the jobs.
const (
	finishedShown     = 50
	throughputSeconds = 300
	pushEvery         = time.Second
)

// A browser that has not taken an event within streamWriteTimeout (it
// stopped reading, and the connection's buffers are full) is dropped. (A
// variable for the tests.)
var streamWriteTimeout = 10 * time.Second

// DefaultHTTPStreams is how many dashboards may be open at once unless
// Config.HTTPStreams says otherwise: each holds a connection, a goroutine
// and its buffers (about 80 KB) for as long as it stays.
const DefaultHTTPStreams = 256

// live is the park's view of the cluster for the dashboard: jobs as their
// foremen write them (pushed to it by a JetStream watch) and, read once a
// second while a browser watches, the registry. Each browser gets the
// same view over server-sent events; none reads the registry itself.
type live struct {
	s   *Server
	ctx context.Context // ends when the park stops
	js  jetstream.JetStream

	mu        sync.Mutex
	jobs      map[string]*registry.Job
	second    int64 // the unix second tput[0] is for
	tput      []int // tasks done per second, newest first
	watchers  map[chan []byte]struct{}
	refused   int  // event streams refused as one too many
	broadcast bool // the broadcaster runs
	// badJobs counts records in the jobs stream left out as not jobs;
	// warned holds the subjects of those logged (each once, bounded).
	badJobs int
	warned  map[string]bool
}

func newLive(ctx context.Context, s *Server, js jetstream.JetStream) *live {
	return &live{s: s, ctx: ctx, js: js, jobs: map[string]*registry.Job{}, watchers: map[chan []byte]struct{}{}}
}

// watch keeps the jobs up to date until ctx ends, reading them again after
// a failure (a cluster's leader change).
func (l *live) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := registry.WatchJobs(ctx, l.js, l.job, nil, l.badJob)
		if ctx.Err() != nil {
			return
		}
		l.s.log.Warn("dashboard: watch the jobs (again in a second)", zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// members logs members joining and leaving reg, and entries left out as
// malformed (once each, while they stay), as seen by a read every lease,
// until ctx ends. (Not through Server.Snapshot: its lock is held
// while the server stops and waits for this.)
func (l *live) members(ctx context.Context, reg *registry.Registry) {
	t := time.NewTicker(l.s.cfg.Lease)
	defer t.Stop()
	var known map[string]registry.Member
	var bad map[string]bool // entries left out at the last read, warned of once
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.s.cfg.Lease)
		snap, err := reg.Snapshot(rctx)
		cancel()
		if err != nil {
			continue
		}
		for key, why := range snap.Bad {
			if !bad[key] {
				l.s.log.Warn("registry entry left out", zap.String("key", key), zap.String("why", why))
			}
		}
		bad = make(map[string]bool, len(snap.Bad))
		for key := range snap.Bad {
			bad[key] = true
		}
		now := make(map[string]registry.Member, len(snap.Members))
		for _, m := range snap.Members {
			key := m.Role + "." + m.ID
			now[key] = m
			if _, ok := known[key]; !ok && known != nil {
				l.s.log.Info("member joined", zap.String("role", m.Role), zap.String("id", m.ID), zap.String("type", m.Type),
					zap.String("host", m.Host), zap.Int("pid", m.PID))
			}
		}
		for key, m := range known {
			if _, ok := now[key]; !ok {
				l.s.log.Info("member left", zap.String("role", m.Role), zap.String("id", m.ID), zap.String("type", m.Type),
					zap.String("host", m.Host), zap.Int("pid", m.PID))
			}
		}
		known = now
	}
}

// job takes a job's new state.
func (l *live) job(j *registry.Job) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Tasks done since the job's last state, for a job seen before (not
	// those of jobs found when the park started).
	if last, seen := l.jobs[j.ID]; seen && j.Done > last.Done {
		l.count(time.Now().Unix(), j.Done-last.Done)
	}
	l.jobs[j.ID] = j
	// Bounded: the running jobs and the most recent finished ones.
	if len(l.jobs) > 2*registry.KeepJobs {
		all := make([]*registry.Job, 0, len(l.jobs))
		for _, j := range l.jobs {
			all = append(all, j)
		}
		registry.SortJobs(all)
		for _, j := range all[registry.KeepJobs:] {
			if j.Final() {
				delete(l.jobs, j.ID)
			}
		}
	}
}

// badJob counts a record of the jobs stream that is not a job, and warns
// of it once per subject.
func (l *live) badJob(subject string, err error) {
	l.mu.Lock()
	l.badJobs++
	first := !l.warned[subject]
	if first {
		if len(l.warned) >= 2*registry.KeepJobs {
			clear(l.warned)
		}
		if l.warned == nil {
			l.warned = map[string]bool{}
		}
		l.warned[subject] = true
	}
	l.mu.Unlock()
	if first {
		l.s.log.Warn("job record left out", zap.String("subject", registry.Clip(subject, 256)), zap.Error(err))
	}
}

// rejectedJobs returns how many records of the jobs stream were left out.
func (l *live) rejectedJobs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.badJobs
}

// count adds n tasks done at unix second sec.
func (l *live) count(sec int64, n int) {
	l.shift(sec)
	l.tput[0] += n
}

// shift moves the throughput window to end at sec.
func (l *live) shift(sec int64) {
	if l.tput == nil {
		l.tput, l.second = make([]int, throughputSeconds), sec
	}
	if gap := sec - l.second; gap > 0 {
		n := int(min(gap, throughputSeconds))
		copy(l.tput[n:], l.tput[:throughputSeconds-n])
		clear(l.tput[:n])
		l.second = sec
	}
}

// byState returns how many jobs the park keeps in each state.
func (l *live) byState() map[string]int {
	n := map[string]int{registry.JobRunning: 0, registry.JobDone: 0, registry.JobFailed: 0, registry.JobCancelled: 0, registry.JobLost: 0}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for _, j := range l.jobs {
		c := *j
		c.Settle(now)
		n[c.State]++
	}
	return n
}

// liveView is what the dashboard shows.
type liveView struct {
	*registryView
	Jobs []*registry.Job `json:"jobs"`
	// Works are the job center's queues, a Work type each: a contractor
	// writes a short Work's job to the park only once it runs a second, so
	// the jobs do not show a busy job center; its queues do.
	Works []workQueue `json:"works"`
	// Throughput is tasks done per second, oldest first, the last
	// second's last (Second is its unix time).
	Throughput []int `json:"throughput"`
	Second     int64 `json:"second"`
	Now        int64 `json:"now_ms"`
}

// view returns the current view.
func (l *live) view(ctx context.Context) (*liveView, error) {
	reg, err := l.s.view(ctx)
	if err != nil {
		return nil, err
	}
	v := &liveView{registryView: reg, Now: time.Now().UnixMilli(), Works: l.works(ctx)}
	l.mu.Lock()
	defer l.mu.Unlock()
	var finished []*registry.Job
	now := time.Now()
	for _, j := range l.jobs {
		c := *j
		j = &c
		j.Settle(now)
		if j.Final() {
			finished = append(finished, j)
		} else {
			v.Jobs = append(v.Jobs, j)
		}
	}
	registry.SortJobs(v.Jobs)
	registry.SortJobs(finished)
	v.Jobs = append(v.Jobs, finished[:min(len(finished), finishedShown)]...)
	if v.Jobs == nil {
		v.Jobs = []*registry.Job{}
	}
	l.shift(time.Now().Unix())
	v.Second = l.second
	v.Throughput = make([]int, len(l.tput))
	for i, n := range l.tput {
		v.Throughput[len(l.tput)-1-i] = n
	}
	return v, nil
}

// workQueue is a Work type's queue: Works queued and not taken yet, and
// taken by a contractor and not answered yet (running, held, or waiting
// for a delay or a retry).
type workQueue struct {
	Type    string `json:"type"`
	Waiting uint64 `json:"waiting"`
	Taken   int    `json:"taken"`
}

// works reads the job center's queues from their consumers (one per type
// and priority); none if the park cannot say now.
func (l *live) works(ctx context.Context) []workQueue {
	out := []workQueue{}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := l.js.Stream(ctx, jobcenter.QueueStream)
	if err != nil {
		return out
	}
	byType := map[string]*workQueue{}
	list := st.ListConsumers(ctx)
	for ci := range list.Info() {
		typ, ok := jobcenter.QueueType(ci.Config.FilterSubject)
		if !ok {
			continue
		}
		q := byType[typ]
		if q == nil {
			q = &workQueue{Type: typ}
			byType[typ] = q
		}
		q.Waiting += ci.NumPending
		q.Taken += ci.NumAckPending
	}
	if list.Err() != nil {
		return out
	}
	for _, q := range byType {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b workQueue) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// serveEvents streams the view to a browser as server-sent events, one
// "state" event a second, until it goes away.
func (l *live) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := make(chan []byte, 1)
	l.mu.Lock()
	if limit := l.s.cfg.HTTPStreams; len(l.watchers) >= limit {
		l.refused++
		l.mu.Unlock()
		w.Header().Set("Retry-After", "10")
		http.Error(w, fmt.Sprintf("too many dashboards open: at most %d event streams at once (parkserver -http-streams)", limit),
			http.StatusServiceUnavailable)
		return
	}
	l.watchers[ch] = struct{}{}
	if !l.broadcast {
		l.broadcast = true
		go l.broadcaster()
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.watchers, ch)
		l.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(b []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", b); err != nil {
			return err
		}
		return rc.Flush()
	}
	var first []byte
	if v, err := l.view(r.Context()); err == nil {
		first, _ = json.Marshal(v)
	}
	if first == nil {
		flusher.Flush()
	} else if send(first) != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case b := <-ch:
			if send(b) != nil {
				return // gone, or not reading
			}
		}
	}
}

// streams returns the event streams open and those refused so far.
func (l *live) streams() (open, refused int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.watchers), l.refused
}

// broadcaster sends the view to every watcher once a second while there
// are any: one registry read and one encoding for all of them. A watcher
// that has not taken the last one skips this one.
func (l *live) broadcaster() {
	t := time.NewTicker(pushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			l.mu.Lock()
			l.broadcast = false
			l.mu.Unlock()
			return
		case <-t.C:
		}
		l.mu.Lock()
		if len(l.watchers) == 0 {
			l.broadcast = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), pushEvery)
		v, err := l.view(ctx)
		cancel()
		if err != nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		l.mu.Lock()
		for ch := range l.watchers {
			select {
			case ch <- b:
			default:
			}
		}
		l.mu.Unlock()
	}
}

// serveTimeline answers a job's timeline (?job=ID), as its foreman wrote
// it last.
func (l *live) serveTimeline(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("job")
	l.mu.Lock()
	j := l.jobs[id]
	l.mu.Unlock()
	if j == nil {
		http.Error(w, "no such job", http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	tl, err := registry.ReadTimeline(ctx, l.js, j)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	data, err := tl.Encode()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}
