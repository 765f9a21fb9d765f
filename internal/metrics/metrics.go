// Package metrics defines the Prometheus metrics of workmen and foremen.
// A nil *Workman or *Foreman (no registry given) records nothing.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// taskBuckets are task durations from 100 µs to about 3 minutes.
var taskBuckets = prometheus.ExponentialBuckets(0.0001, 4, 11)

// Workman is a workman's metrics.
type Workman struct {
	tasks      *prometheus.CounterVec
	duration   prometheus.Histogram
	bytes      *prometheus.CounterVec
	heartbeats prometheus.Counter
}

// NewWorkman registers workman id's metrics in reg; busy and capacity
// report its slots. It returns nil if reg is nil.
func NewWorkman(reg prometheus.Registerer, id, typ string, busy func() int, capacity int) *Workman {
	if reg == nil {
		return nil
	}
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"workman": id, "type": typ}, reg)
	m := &Workman{
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fourinone_workman_tasks_total",
			Help: "DoTasks answered, by outcome: ok, exception (the Worker failed or panicked), cancelled."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fourinone_workman_task_seconds",
			Help: "Time a DoTask ran, from its slot to its result.", Buckets: taskBuckets}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fourinone_workman_bytes_total",
			Help: "Bytes of tasks received (in) and results sent (out)."}, []string{"direction"}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{Name: "fourinone_workman_heartbeat_failures_total",
			Help: "Heartbeats the park did not take (it was unreachable)."}),
	}
	reg.MustRegister(m.tasks, m.duration, m.bytes, m.heartbeats,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fourinone_workman_busy_slots", Help: "Tasks running now."},
			func() float64 { return float64(busy()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fourinone_workman_capacity_slots", Help: "Tasks it runs at once at most."},
			func() float64 { return float64(capacity) }))
	return m
}

// Task records one DoTask.
func (m *Workman) Task(outcome string, took time.Duration, in, out int) {
	if m == nil {
		return
	}
	m.tasks.WithLabelValues(outcome).Inc()
	m.duration.Observe(took.Seconds())
	m.bytes.WithLabelValues("in").Add(float64(in))
	m.bytes.WithLabelValues("out").Add(float64(out))
}

// HeartbeatFailed records a heartbeat the park did not take.
func (m *Workman) HeartbeatFailed() {
	if m != nil {
		m.heartbeats.Inc()
	}
}

// Foreman is a foreman's metrics.
type Foreman struct {
	attempts   *prometheus.CounterVec
	duration   prometheus.Histogram
	bytes      *prometheus.CounterVec
	extra      *prometheus.CounterVec
	jobs       *prometheus.CounterVec
	heartbeats prometheus.Counter
}

// NewForeman registers foreman id's metrics in reg; claimed and running
// report its claimed slots and running jobs. It returns nil if reg is nil.
func NewForeman(reg prometheus.Registerer, id string, claimed, running func() int) *Foreman {
	if reg == nil {
		return nil
	}
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"foreman": id}, reg)
	m := &Foreman{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fourinone_foreman_task_attempts_total",
			Help: "Task attempts in jobs, by outcome: done, exception, lost (worker lost or timed out), busy (the worker refused it)."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "fourinone_foreman_task_seconds",
			Help: "Round trip of a task attempt that succeeded, from sending it to its result.", Buckets: taskBuckets}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fourinone_foreman_bytes_total",
			Help: "Bytes of tasks sent (out) and results received (in)."}, []string{"direction"}),
		extra: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fourinone_foreman_task_reruns_total",
			Help: "Extra attempts, by reason: retry (an exception retried), reassign (lost with its worker), backup (a straggler's copy)."}, []string{"reason"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fourinone_foreman_jobs_total",
			Help: "Jobs ended, by state: done, failed, cancelled."}, []string{"state"}),
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{Name: "fourinone_foreman_heartbeat_failures_total",
			Help: "Heartbeats the park did not take (it was unreachable)."}),
	}
	reg.MustRegister(m.attempts, m.duration, m.bytes, m.extra, m.jobs, m.heartbeats,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fourinone_foreman_claimed_slots", Help: "Workers' slots claimed now."},
			func() float64 { return float64(claimed()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fourinone_foreman_jobs_running", Help: "Jobs running now."},
			func() float64 { return float64(running()) }))
	return m
}

// Attempt records a task attempt's outcome; took and in count for done
// ones.
func (m *Foreman) Attempt(outcome string, took time.Duration, in int) {
	if m == nil {
		return
	}
	m.attempts.WithLabelValues(outcome).Inc()
	if outcome == "done" {
		m.duration.Observe(took.Seconds())
	}
	m.bytes.WithLabelValues("in").Add(float64(in))
}

// Sent records a task sent.
func (m *Foreman) Sent(n int) {
	if m != nil {
		m.bytes.WithLabelValues("out").Add(float64(n))
	}
}

// Rerun records an extra attempt for reason (retry, reassign, backup).
func (m *Foreman) Rerun(reason string) {
	if m != nil {
		m.extra.WithLabelValues(reason).Inc()
	}
}

// JobEnded records a job's end in state.
func (m *Foreman) JobEnded(state string) {
	if m != nil {
		m.jobs.WithLabelValues(state).Inc()
	}
}

// HeartbeatFailed records a heartbeat the park did not take.
func (m *Foreman) HeartbeatFailed() {
	if m != nil {
		m.heartbeats.Inc()
	}
}
