package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/nats-io/nats.go/jetstream"
)

// Jobs: each foreman's jobs, one subject per job holding its latest state
// (JobSubject), in a stream that keeps the last KeepJobs jobs for up to
// KeepJobsFor. A running job's state is written when it starts, about
// every second while it runs, and when it ends.
const (
	JobsStream  = "FOURINONE_JOBS"
	jobsPrefix  = "fourinone.job."
	KeepJobs    = 1000
	KeepJobsFor = 24 * time.Hour
	// JobCancelPrefix + foreman + "." + job is where a running job is
	// cancelled: its foreman answers "ok" and stops it.
	JobCancelPrefix = "fourinone.jobcancel."
)

// JobSubject is where foreman writes the state of its job id.
func JobSubject(foreman, id string) string { return jobsPrefix + foreman + "." + id }

// JobCancelSubject is where job id of foreman is cancelled.
func JobCancelSubject(foreman, id string) string { return JobCancelPrefix + foreman + "." + id }

// Job states. A job is lost when its foreman stopped writing its state
// while it ran (the foreman died, or lost the park for good): readers
// decide that (Settle), foremen never write it.
const (
	JobRunning   = "running"
	JobDone      = "done"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
	JobLost      = "lost"
)

// JobLostAfter is how long after its last write a running job counts as
// lost; a running job is written about every second.
const JobLostAfter = 15 * time.Second

// Settle marks a running job not written for JobLostAfter as lost.
func (j *Job) Settle(now time.Time) {
	if j.State == JobRunning && now.Sub(j.Updated) > JobLostAfter {
		j.State = JobLost
		j.Error = fmt.Sprintf("its foreman %s stopped writing its state %s ago", j.Foreman, now.Sub(j.Updated).Round(time.Second))
	}
}

// Job is a job's state as its foreman last wrote it.
type Job struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Foreman  string    `json:"foreman"`
	Host     string    `json:"host,omitempty"`
	PID      int       `json:"pid,omitempty"`
	State    string    `json:"state"`
	Error    string    `json:"error,omitempty"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Finished time.Time `json:"finished,omitzero"`
	Workers  int       `json:"workers"`
	// Tasks: Total is the job's task count once known (the Splitter said
	// it, or it finished splitting), else 0; Split how many it has split.
	Total      int   `json:"total,omitempty"`
	Split      int   `json:"split"`
	Done       int   `json:"done"`
	Running    int   `json:"running"`
	Failed     int   `json:"failed"`
	Retried    int   `json:"retried"`
	Reassigned int   `json:"reassigned"`
	Backups    int   `json:"backups"`
	BytesOut   int64 `json:"bytes_out"` // tasks sent
	BytesIn    int64 `json:"bytes_in"`  // results received
	// Rate is tasks done per second over the last few seconds; ETA the
	// seconds left at that rate, if the total is known.
	Rate float64 `json:"rate"`
	ETA  float64 `json:"eta_seconds,omitempty"`
}

// Final reports whether the job has ended.
func (j *Job) Final() bool { return j.State != JobRunning }

// SetupJobs creates (or updates) the jobs stream, kept by replicas servers
// (0 is 1); the park server calls it at start.
func SetupJobs(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: JobsStream, Description: "fourinone jobs: the latest state of each",
		Subjects: []string{jobsPrefix + ">"}, MaxMsgsPerSubject: 1, MaxMsgs: KeepJobs, MaxAge: KeepJobsFor,
		Discard: jetstream.DiscardOld, Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("registry: create jobs stream: %w", err)
	}
	return nil
}

// maxJob bounds a job record read from the stream: anything bigger is not
// one a foreman wrote.
const maxJob = 64 << 10

// Bounds on a job's free text, in bytes: a foreman cuts what it writes to
// them (Clip), a reader refuses a record past them.
const (
	MaxJobName  = 256
	MaxJobError = 4096
)

// Clip returns s cut to at most n bytes, at a character's boundary, with
// "…" at its end if it was cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	// Drop the bytes of a character cut in two.
	for r, size := utf8.DecodeLastRuneInString(s); r == utf8.RuneError && size == 1; r, size = utf8.DecodeLastRuneInString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// DecodeJob decodes a job record, refusing one that is too big, malformed
// or out of its sets and ranges (see Job.check).
func DecodeJob(data []byte) (*Job, error) {
	if len(data) > maxJob {
		return nil, fmt.Errorf("registry: job record of %d bytes (at most %d)", len(data), maxJob)
	}
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("registry: malformed job record: %w", err)
	}
	if err := j.check(); err != nil {
		return nil, fmt.Errorf("registry: job record refused: %w", err)
	}
	return &j, nil
}

// check says why a decoded job record makes no sense, if it does not.
func (j *Job) check() error {
	switch {
	case !names.ValidID(j.ID) || !names.ValidID(j.Foreman):
		return errors.New("id or foreman not 1 to 128 letters, digits, '-' or '_'")
	case j.State != JobRunning && j.State != JobDone && j.State != JobFailed && j.State != JobCancelled:
		return errors.New("state not running, done, failed or cancelled")
	case len(j.Name) > MaxJobName || len(j.Error) > MaxJobError:
		return fmt.Errorf("name over %d bytes or error over %d", MaxJobName, MaxJobError)
	case j.Host != "" && !names.ValidHost(j.Host):
		return errors.New("host not 1 to 253 letters, digits, '-', '_', '.' or ':'")
	case j.PID < 0 || j.PID > math.MaxInt32:
		return fmt.Errorf("pid %d", j.PID)
	case min(j.Workers, j.Total, j.Split, j.Done, j.Running, j.Failed, j.Retried, j.Reassigned, j.Backups) < 0 ||
		j.BytesIn < 0 || j.BytesOut < 0:
		return errors.New("a negative count")
	case !(j.Rate >= 0 && j.Rate <= math.MaxFloat32) || !(j.ETA >= 0 && j.ETA <= math.MaxFloat32):
		return errors.New("rate or ETA not a positive number")
	}
	return nil
}

// WatchJobs calls each with every job's latest state, then with each new
// state as it is written, until ctx ends; caughtUp (if not nil) is called
// once the jobs kept when it began were all given. A record that is not a
// job (DecodeJob refuses it, or it is not at its JobSubject) is skipped,
// and given to bad if bad is not nil.
func WatchJobs(ctx context.Context, js jetstream.JetStream, each func(*Job), caughtUp func(), bad func(subject string, err error)) error {
	cons, err := js.OrderedConsumer(ctx, JobsStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("registry: read jobs: %w", err)
	}
	pending := cons.CachedInfo().NumPending
	if pending == 0 && caughtUp != nil {
		caughtUp()
		caughtUp = nil
	}
	msgs, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("registry: read jobs: %w", err)
	}
	go func() {
		<-ctx.Done()
		msgs.Stop()
	}()
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("registry: read jobs: %w", err)
		}
		j, err := DecodeJob(m.Data())
		if err == nil && m.Subject() != JobSubject(j.Foreman, j.ID) {
			err = fmt.Errorf("registry: job record of %s.%s stored elsewhere", j.Foreman, j.ID)
		}
		switch {
		case err == nil:
			each(j)
		case bad != nil:
			bad(m.Subject(), err)
		}
		if md, err := m.Metadata(); err == nil && caughtUp != nil && md.NumPending == 0 {
			caughtUp()
			caughtUp = nil
		}
	}
}

// Jobs returns the kept jobs, the most recently started first.
func Jobs(ctx context.Context, js jetstream.JetStream) ([]*Job, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	byID := map[string]*Job{}
	caught := false
	err := WatchJobs(ctx, js, func(j *Job) { byID[j.ID] = j }, func() { caught = true; cancel() }, nil)
	if !caught {
		return nil, err
	}
	jobs := make([]*Job, 0, len(byID))
	now := time.Now()
	for _, j := range byID {
		j.Settle(now)
		jobs = append(jobs, j)
	}
	SortJobs(jobs)
	return jobs, nil
}

// SortJobs sorts jobs the most recently started first.
func SortJobs(jobs []*Job) {
	slices.SortFunc(jobs, func(a, b *Job) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
