package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/nats-io/nats.go/jetstream"
)

// Timelines: each job's recent task attempts, as its foreman writes them
// beside the job's state (TimelineSubject), in a stream of their own that
// keeps one per job, as many and as long as the jobs stream.
const (
	TimelinesStream = "FOURINONE_TIMELINES"
	timelinesPrefix = "fourinone.timeline."
	// MaxTimeline bounds a timeline record: a foreman writes at most this
	// (dropping its oldest attempts to fit), a reader refuses more.
	MaxTimeline = 1 << 20
	// timelinesBytes bounds the stream.
	timelinesBytes = 256 << 20
)

// TimelineSubject is where foreman writes the timeline of its job id.
func TimelineSubject(foreman, id string) string { return timelinesPrefix + foreman + "." + id }

// Timeline is a job's task attempts, the most recent last: which worker
// ran which task on which of its slots, when, and how it ended. Times are
// microseconds after Start.
type Timeline struct {
	Job     string    `json:"job"`
	Foreman string    `json:"foreman"`
	Start   time.Time `json:"start"`
	// Workers are the workers' IDs; an attempt names one by its index.
	Workers []string `json:"workers"`
	// Recorded counts every attempt the job made; Attempts holds the last
	// of them, as many as the foreman keeps.
	Recorded int       `json:"recorded"`
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one try of a task on one slot of a worker.
type Attempt struct {
	Task     int
	Worker   int   // index into Timeline.Workers
	Slot     int   // 0 to the worker's slots - 1
	Queued   int64 // since when the task waited for this attempt
	Started  int64 // when it was sent
	Finished int64 // when its outcome came; 0 while it runs
	Outcome  Outcome
	Kind     Kind
}

// Outcome is how an attempt ended.
type Outcome uint8

// Outcomes.
const (
	Running   Outcome = iota // not ended yet
	Succeeded                // its result was taken
	Exception                // the worker's code returned an error or panicked
	Lost                     // lost with its worker, timed out, or cut with the park link
	Busy                     // the worker refused it: its budget was full
	Dropped                  // cancelled: another attempt of its task won, or the job ended
)

var outcomeNames = [...]string{"running", "done", "exception", "lost", "busy", "dropped"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("outcome(%d)", o)
}

// Kind is why an attempt was made.
type Kind uint8

// Kinds.
const (
	First    Kind = iota // the task's first attempt
	Retry                // after an exception, with Retries
	Reassign             // after an attempt was lost, or refused as busy
	Backup               // a second copy of a straggler
)

var kindNames = [...]string{"first", "retry", "reassign", "backup"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// MarshalJSON writes an attempt as an array of its eight numbers.
func (a Attempt) MarshalJSON() ([]byte, error) { return a.append(nil), nil }

// append appends the attempt's JSON to b.
func (a Attempt) append(b []byte) []byte {
	b = append(b, '[')
	for k, v := range [8]int64{int64(a.Task), int64(a.Worker), int64(a.Slot), a.Queued, a.Started, a.Finished, int64(a.Outcome), int64(a.Kind)} {
		if k > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return append(b, ']')
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (a *Attempt) UnmarshalJSON(data []byte) error {
	var v [8]int64
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*a = Attempt{Task: int(v[0]), Worker: int(v[1]), Slot: int(v[2]), Queued: v[3], Started: v[4], Finished: v[5],
		Outcome: Outcome(v[6]), Kind: Kind(v[7])}
	if v[0] != int64(a.Task) || v[1] != int64(a.Worker) || v[2] != int64(a.Slot) || v[6] != int64(a.Outcome) || v[7] != int64(a.Kind) {
		return errors.New("a number out of its range")
	}
	return nil
}

// Encode returns the timeline as JSON, as json.Marshal would (an attempt
// an array of its numbers), written directly: a foreman encodes thousands
// of attempts on its scheduling goroutine, where json.Marshal took 7 ms
// for 5,000.
func (t *Timeline) Encode() ([]byte, error) {
	head, err := json.Marshal(struct {
		Job      string    `json:"job"`
		Foreman  string    `json:"foreman"`
		Start    time.Time `json:"start"`
		Workers  []string  `json:"workers"`
		Recorded int       `json:"recorded"`
	}{t.Job, t.Foreman, t.Start, t.Workers, t.Recorded})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(head)+len(`,"attempts":[]`)+40*len(t.Attempts))
	b = append(append(b, head[:len(head)-1]...), `,"attempts":[`...)
	for i, a := range t.Attempts {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.append(b)
	}
	return append(b, "]}"...), nil
}

// SetupTimelines creates (or updates) the timelines stream, kept by
// replicas servers (0 is 1); the park server calls it at start.
func SetupTimelines(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: TimelinesStream, Description: "fourinone jobs' task timelines: the latest of each",
		Subjects: []string{timelinesPrefix + ">"}, MaxMsgsPerSubject: 1, MaxMsgs: KeepJobs, MaxAge: KeepJobsFor,
		MaxBytes: timelinesBytes, MaxMsgSize: MaxTimeline, Discard: jetstream.DiscardOld,
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return fmt.Errorf("registry: create timelines stream: %w", err)
	}
	return nil
}

// DecodeTimeline decodes a timeline record, refusing one that is too big,
// malformed, or whose attempts name no worker of it or end before they
// start.
func DecodeTimeline(data []byte) (*Timeline, error) {
	if len(data) > MaxTimeline {
		return nil, fmt.Errorf("registry: timeline of %d bytes (at most %d)", len(data), MaxTimeline)
	}
	var t Timeline
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("registry: malformed timeline: %w", err)
	}
	if !names.ValidID(t.Job) || !names.ValidID(t.Foreman) || t.Recorded < len(t.Attempts) {
		return nil, errors.New("registry: timeline refused: bad job, foreman or count")
	}
	for _, w := range t.Workers {
		if !names.ValidID(w) {
			return nil, errors.New("registry: timeline refused: a worker id not 1 to 128 letters, digits, '-' or '_'")
		}
	}
	for _, a := range t.Attempts {
		if a.Task < 0 || a.Worker < 0 || a.Worker >= len(t.Workers) || a.Slot < 0 || a.Queued < 0 || a.Started < a.Queued ||
			a.Finished != 0 && a.Finished < a.Started || a.Outcome > Dropped || a.Kind > Backup {
			return nil, fmt.Errorf("registry: timeline refused: attempt %+v", a)
		}
	}
	return &t, nil
}

// ReadTimeline returns the timeline the foreman of job wrote last.
func ReadTimeline(ctx context.Context, js jetstream.JetStream, job *Job) (*Timeline, error) {
	cons, err := js.OrderedConsumer(ctx, TimelinesStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{TimelineSubject(job.Foreman, job.ID)}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("registry: read the timeline: %w", err)
	}
	if cons.CachedInfo().NumPending == 0 {
		return nil, fmt.Errorf("registry: job %s has no timeline (it ran less than a second, or kept none)", job.ID)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		return nil, fmt.Errorf("registry: read the timeline: %w", err)
	}
	t, err := DecodeTimeline(m.Data())
	if err == nil && (t.Job != job.ID || t.Foreman != job.Foreman) {
		err = errors.New("registry: a timeline stored under another job's name")
	}
	return t, err
}
