package search

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Result is what a search found and what it took.
type Result struct {
	Nonce  int64 // the least hit
	Hashes int64 // hashes tried by the tasks that finished
	Tasks  int   // tasks that finished
	Took   time.Duration
	// StopLag is how long after the hit was known the last worker's task
	// returned: the time cancelling the running tasks took. Measured with
	// embedded workers only (-1 otherwise).
	StopLag time.Duration
}

// Run searches on workers numbers of workers where o says, in ranges of
// step nonces.
func Run(ctx context.Context, o team.Options, workers int, prefix string, bits int, step int64) (Result, error) {
	if err := check(prefix, bits); err != nil {
		return Result{}, err
	}
	if step < 1 {
		return Result{}, fmt.Errorf("search: step %d", step)
	}
	tr := &tracker{}
	t, err := team.Open(ctx, o, team.Need{Type: Type, N: workers, Worker: func() workman.Worker { return tr.wrap(Worker()) }})
	if err != nil {
		return Result{}, fmt.Errorf("search: %w", err)
	}
	defer t.Close()
	f := NewFound(step)
	var hitAt time.Time
	final := func(r *warehouse.Warehouse) bool {
		if f.Final(r) {
			hitAt = time.Now()
			return true
		}
		return false
	}
	start := time.Now()
	_, err = t.Foreman.Run(ctx, t.Workers[Type], splitter.Seq(Tasks(prefix, bits, step)), f.Combiner(),
		t.RunOptions("search", foreman.StopWhen(final))...)
	took := time.Since(start)
	if err != nil {
		return Result{}, err
	}
	if f.Nonce < 0 { // the nonces ran out: 2^63 hashes later
		return Result{}, fmt.Errorf("search: no nonce below 2^63 has %d zero bits", bits)
	}
	res := Result{Nonce: f.Nonce, Hashes: f.Hashes, Tasks: f.Tasks, Took: took, StopLag: -1}
	if len(t.Embedded) > 0 {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if last, err := tr.idle(wctx); err == nil {
			res.StopLag = max(last.Sub(hitAt), 0)
		}
	}
	return res, nil
}

// tracker follows the tasks of in-process workers: how many run, and
// when the last one returned.
type tracker struct {
	mu      sync.Mutex
	running int
	last    time.Time
	idleCh  chan struct{} // closed when running drops to 0
}

func (tr *tracker) wrap(w workman.Worker) workman.Worker {
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		tr.mu.Lock()
		tr.running++
		tr.mu.Unlock()
		defer func() {
			tr.mu.Lock()
			defer tr.mu.Unlock()
			tr.running--
			tr.last = time.Now()
			if tr.running == 0 && tr.idleCh != nil {
				close(tr.idleCh)
				tr.idleCh = nil
			}
		}()
		return w.DoTask(ctx, in)
	})
}

// idle waits until no task runs and returns when the last one returned.
func (tr *tracker) idle(ctx context.Context) (time.Time, error) {
	tr.mu.Lock()
	if tr.running == 0 {
		defer tr.mu.Unlock()
		return tr.last, nil
	}
	if tr.idleCh == nil {
		tr.idleCh = make(chan struct{})
	}
	ch := tr.idleCh
	tr.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.last, nil
}
