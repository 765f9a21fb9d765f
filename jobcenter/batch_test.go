package jobcenter

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBatcherGroupsCallsWhileBusy: a lone call goes at once, alone; the
// calls made while its batch is on its way go in the next batches, at most
// max each, and every caller gets its own answer.
func TestBatcherGroupsCallsWhileBusy(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	var sizes []int // written by the batcher's one goroutine, read once it is done
	b := &batcher[int, int]{max: 32, run: func(calls []*call[int, int]) {
		sizes = append(sizes, len(calls))
		if len(sizes) == 1 {
			close(started)
			<-release
		}
		for _, c := range calls {
			c.res = c.req * 10
		}
	}}
	ctx := context.Background()
	var wg sync.WaitGroup
	got := make([]int, 100)
	call := func(i int) {
		defer wg.Done()
		r, err := b.do(ctx, i)
		if err != nil {
			t.Error(err)
		}
		got[i] = r
	}
	wg.Add(1)
	go call(0)
	pending := func() (int, bool) {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.pending), b.busy
	}
	<-started // the first batch is on its way
	for i := 1; i < 100; i++ {
		wg.Add(1)
		go call(i)
	}
	for n, _ := pending(); n < 99; n, _ = pending() {
		time.Sleep(time.Millisecond) // the callers get there
	}
	close(release)
	wg.Wait()
	for _, busy := pending(); busy; _, busy = pending() {
		time.Sleep(time.Millisecond) // its goroutine ends once nothing is pending
	}
	if want := []int{1, 32, 32, 32, 3}; !slices.Equal(sizes, want) {
		t.Fatalf("batches of %v, want %v", sizes, want)
	}
	for i, r := range got {
		if r != i*10 {
			t.Fatalf("call %d got %d, want %d", i, r, i*10)
		}
	}
}

// TestBatcherCallerGivesUp: a caller whose context ends returns at once;
// the batch goes on for the others.
func TestBatcherCallerGivesUp(t *testing.T) {
	release := make(chan struct{})
	b := &batcher[int, int]{max: 8, run: func(calls []*call[int, int]) {
		<-release
		for _, c := range calls {
			c.res = c.req
		}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { _, err := b.do(ctx, 1); errc <- err }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("do after cancel: %v, want context.Canceled", err)
	}
	close(release)
	if r, err := b.do(context.Background(), 7); r != 7 || err != nil {
		t.Fatalf("do = %d, %v; want 7", r, err)
	}
}
