package team

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Mailbox holds what a worker's peers send it (Receive) for the team jobs
// it is in, per job, until the job's task (DoTask) takes it: a peer's
// parts may come before the task itself. T is what a job's parts add up
// to. It is safe for concurrent use.
type Mailbox[T any] struct {
	mu   sync.Mutex
	max  int
	jobs map[string]*box[T]
}

type box[T any] struct {
	v       T
	last    map[int]bool // senders by index: true once their last part came
	done    int          // senders whose last part came
	want    int          // senders to hear (-1 until the task says)
	senders int          // the senders are 0 to senders-1 (once the task says)
	self    int          // less this one, if not -1
	heard   chan struct{}
	over    bool
	started time.Time
}

// OrphanAfter is how long a job's parts wait for its task before a new job
// drops them.
const OrphanAfter = 10 * time.Minute

// NewMailbox returns a Mailbox holding parts of at most maxJobs jobs.
func NewMailbox[T any](maxJobs int) *Mailbox[T] {
	return &Mailbox[T]{max: maxJobs, jobs: make(map[string]*box[T])}
}

// get returns job's box, made if new. m.mu is held.
func (m *Mailbox[T]) get(job string) (*box[T], error) {
	b := m.jobs[job]
	if b != nil {
		return b, nil
	}
	now := time.Now()
	for id, b := range m.jobs {
		if now.Sub(b.started) > OrphanAfter {
			delete(m.jobs, id)
		}
	}
	if len(m.jobs) >= m.max {
		return nil, fmt.Errorf("parts of %d jobs held already", m.max)
	}
	b = &box[T]{last: make(map[int]bool), want: -1, self: -1, heard: make(chan struct{}), started: now}
	m.jobs[job] = b
	return b, nil
}

func (b *box[T]) check() {
	if b.want >= 0 && b.done >= b.want {
		select {
		case <-b.heard:
		default:
			close(b.heard)
		}
	}
}

// Put adds a part of job from sender (last: its final one): add runs with
// the job's value under the Mailbox's lock.
func (m *Mailbox[T]) Put(job string, sender int, last bool, add func(*T) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.get(job)
	if err != nil {
		return err
	}
	switch {
	case b.over:
		return fmt.Errorf("a part from worker %d of job %s after its task took its parts", sender, job)
	case b.last[sender]:
		return fmt.Errorf("a part from worker %d of job %s after its last", sender, job)
	case b.want >= 0 && (sender == b.self || sender >= b.senders):
		return fmt.Errorf("a part of job %s from worker %d, not one of its %d senders less %d", job, sender, b.senders, b.self)
	}
	if err := add(&b.v); err != nil {
		return err
	}
	if _, ok := b.last[sender]; !ok || last {
		b.last[sender] = last
	}
	if last {
		b.done++
		b.check()
	}
	return nil
}

// Open says that job's task runs here as worker self of a team of n: the
// others send it parts. Parts that came before are checked against it;
// Wait can then tell when every other worker's parts are in. Close must
// follow.
func (m *Mailbox[T]) Open(job string, n, self int) error { return m.open(job, n, self) }

// Expect is Open for parts from n workers of another team: senders 0 to
// n-1, none of them this worker.
func (m *Mailbox[T]) Expect(job string, n int) error { return m.open(job, n, -1) }

func (m *Mailbox[T]) open(job string, n, self int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.get(job)
	if err != nil {
		return err
	}
	for s := range b.last {
		if s == self || s >= n {
			return fmt.Errorf("a part of job %s from worker %d, not one of its %d senders less %d", job, s, n, self)
		}
	}
	b.senders, b.self, b.want = n, self, n
	if self >= 0 {
		b.want = n - 1
	}
	b.check()
	return nil
}

// Wait waits until every other worker of job's team sent its last part,
// then calls take with the job's value under the lock; later parts are
// refused.
func (m *Mailbox[T]) Wait(ctx context.Context, job string, take func(*T)) error {
	m.mu.Lock()
	b := m.jobs[job]
	m.mu.Unlock()
	if b == nil {
		return fmt.Errorf("job %s is not open", job)
	}
	select {
	case <-b.heard:
	case <-ctx.Done():
		return ctx.Err()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b.over = true
	take(&b.v)
	return nil
}

// Close forgets job.
func (m *Mailbox[T]) Close(job string) {
	m.mu.Lock()
	delete(m.jobs, job)
	m.mu.Unlock()
}
