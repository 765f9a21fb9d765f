package wire

import (
	"sync"
	"time"
)

// runners runs handlers on goroutines that ran one before. A new goroutine
// starts on a small stack, and a handler deeper than that (a typed task
// decoded with reflection was) pays for growing it on every call: 3.6 us a
// task, measured with CBOR; gRPC's stream workers reuse theirs too.
//
// Jobs wait in a queue, and a runner that takes one wakes another only if
// more wait and no other runner is awake to take them: a batch of quick
// jobs runs on one or two goroutines instead of waking one per job, while
// a job that blocks has already woken the runner that takes the next, so
// every queued job starts even if all the others block. Runners end when
// idle for runnerIdle, or when stop is closed.
type runners struct {
	stop <-chan struct{}
	idle func() // called by a runner that found no job, before it parks
	wg   sync.WaitGroup

	mu     sync.Mutex // guards the fields below
	queue  []func()
	head   int             // queue[head:] wait
	parked []chan struct{} // parked runners, each woken by a send on its channel
	awake  int             // runners woken or started that have not taken a job yet
}

// runnerIdle is how long a runner waits for the next job.
const runnerIdle = 10 * time.Second

// run queues job and makes sure a runner is awake to take it.
func (r *runners) run(job func()) {
	r.mu.Lock()
	r.queue = append(r.queue, job)
	if r.awake == 0 {
		r.wakeLocked()
	}
	r.mu.Unlock()
}

// wakeLocked wakes a parked runner, or starts one. r.mu is held.
func (r *runners) wakeLocked() {
	r.awake++
	if n := len(r.parked); n > 0 {
		ch := r.parked[n-1]
		r.parked = r.parked[:n-1]
		ch <- struct{}{}
		return
	}
	r.wg.Add(1)
	go r.loop()
}

func (r *runners) loop() {
	defer r.wg.Done()
	wake := make(chan struct{}, 1)
	quiet := time.NewTimer(runnerIdle)
	defer quiet.Stop()
	r.mu.Lock() // r.awake counts this runner
	for {
		if r.head < len(r.queue) {
			job := r.queue[r.head]
			r.queue[r.head] = nil
			if r.head++; r.head == len(r.queue) {
				r.queue, r.head = r.queue[:0], 0
			}
			r.awake--
			if r.head < len(r.queue) && r.awake == 0 {
				r.wakeLocked()
			}
			r.mu.Unlock()
			job()
			r.mu.Lock()
			r.awake++
			continue
		}
		r.mu.Unlock()
		r.idle()
		r.mu.Lock()
		if r.head < len(r.queue) {
			continue // a job came meanwhile; r.awake still counts this runner
		}
		r.awake--
		r.parked = append(r.parked, wake)
		r.mu.Unlock()
		quiet.Reset(runnerIdle)
		select {
		case <-wake:
			r.mu.Lock() // the waker counted this runner awake
			continue
		case <-quiet.C:
		case <-r.stop:
		}
		r.mu.Lock()
		for i, ch := range r.parked {
			if ch == wake { // still parked: nobody counts on this runner
				r.parked = append(r.parked[:i], r.parked[i+1:]...)
				r.mu.Unlock()
				return
			}
		}
		// Woken as it stopped waiting: it is counted awake, so it stays.
		<-wake
	}
}
