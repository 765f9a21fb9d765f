package jobcenter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sumWorker sums lo..hi-1 of an IntRange task; a task with "block" set
// waits until it is cancelled.
type sumWorker struct {
	calls     atomic.Int64
	cancelled atomic.Int64
}

func (s *sumWorker) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	s.calls.Add(1)
	if b, _ := in.Bool("block"); b {
		<-ctx.Done()
		s.cancelled.Add(1)
		return nil, ctx.Err()
	}
	lo, _ := in.Int64(splitter.KeyLo)
	hi, _ := in.Int64(splitter.KeyHi)
	var sum int64
	for n := lo; n < hi; n++ {
		sum += n
	}
	out := warehouse.New()
	out.SetInt64("sum", sum)
	return out, nil
}

func (s *sumWorker) Receive(context.Context, workman.Peer, *warehouse.Warehouse) error { return nil }

// sumJob is the "sum" Work: it sums 0..n-1 in tasks of 10, n from the
// input's "n", or, in a chain, from the previous step's "sum" (n = sum
// mod 1000 + 1). "fail" makes it fail; "block" makes its tasks wait until
// cancelled.
func sumJob(ctx context.Context, in *warehouse.Warehouse) (splitter.Splitter, combiner.Combiner, error) {
	if msg, ok := in.String("fail"); ok {
		return nil, nil, errors.New(msg)
	}
	if b, _ := in.Bool("fail_first"); b && failedFirst.Add(1) == 1 {
		return nil, nil, errors.New("the first run fails")
	}
	n, ok := in.Int64("n")
	if deps, fanIn := in.Strings("deps"); fanIn {
		var sum int64
		for _, id := range deps {
			r, err := jobcenter.AfterResult(in, id)
			if err != nil {
				return nil, nil, err
			}
			s, _ := r.Int64("sum")
			sum += s
		}
		n, ok = nextN(sum), true
	}
	if !ok {
		sum, ok := in.Int64("sum")
		if !ok {
			return nil, nil, errors.New("want n or sum")
		}
		n = nextN(sum)
	}
	block, _ := in.Bool("block")
	split := splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		return splitter.IntRange(0, n, 10).Split(ctx, func(t *warehouse.Warehouse) error {
			if block {
				t.SetBool("block", true)
			}
			return emit(t)
		})
	})
	comb := combiner.SumInt64("sum")
	if size, ok := in.Int64("result_bytes"); ok {
		comb = combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
			acc.SetBytes("blob", make([]byte, size))
			return combiner.SumInt64("sum").Combine(acc, r)
		})
	}
	return split, comb, nil
}

var failedFirst atomic.Int64

func nextN(sum int64) int64 { return sum%1000 + 1 }

func sumTo(n int64) int64 { return n * (n - 1) / 2 }

// center is a park with two "sum" workmen and the job center's client.
type center struct {
	park   *parkserver.Server
	url    string
	nc     *nats.Conn
	client *jobcenter.Client
	worker *sumWorker
}

func startCenter(t *testing.T, cfg parkserver.Config) *center {
	t.Helper()
	p := parktest.StartPark(t, cfg)
	c := &center{park: p, url: p.ClientURL(), worker: &sumWorker{}}
	for range 2 {
		parktest.StartWorkman(t, c.url, workman.Config{Type: "sum", Capacity: 2}, c.worker)
	}
	c.nc, c.client = connect(t, c.url)
	return c
}

func connect(t *testing.T, url string) (*nats.Conn, *jobcenter.Client) {
	t.Helper()
	nc, err := wire.Connect(url, wire.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := jobcenter.New(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, client
}

// contractor starts a "sum" contractor on the park at url; it stops at
// cleanup, or when stop is called.
func contractor(t *testing.T, url string, cfg jobcenter.ContractorConfig) (stop func()) {
	t.Helper()
	f := parktest.NewForeman(t, url, foreman.Config{})
	nc, err := wire.Connect(url, wire.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).Named("contractor")
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, err := jobcenter.NewContractor(ctx, nc, f, jobcenter.Definition{Type: "sum", Workers: 2, Job: sumJob}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Serve(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done; nc.Close() }) }
	t.Cleanup(stop)
	return stop
}

func wait(t *testing.T, client *jobcenter.Client, id string) (*warehouse.Warehouse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return client.Wait(ctx, id)
}

func input(n int64) *warehouse.Warehouse {
	w := warehouse.New()
	w.SetInt64("n", n)
	return w
}

func checkSum(t *testing.T, out *warehouse.Warehouse, err error, want int64) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := out.Int64("sum"); got != want {
		t.Fatalf("sum %d, want %d", got, want)
	}
}

func TestSubmitAndWait(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{Concurrency: 2})
	ctx := context.Background()
	var ids []string
	for _, n := range []int64{1000, 2000, 3000} {
		id, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", Input: input(n), Durable: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i, id := range ids {
		n := int64(1000 * (i + 1))
		out, err := wait(t, c.client, id)
		checkSum(t, out, err, sumTo(n))
		info, err := c.client.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if info.Status != jobcenter.Done || info.Attempts != 1 || info.Progress != (jobcenter.Progress{Done: n / 10, Total: n / 10}) ||
			info.Finished.Before(info.Started) || info.Started.Before(info.Created) {
			t.Fatalf("record %+v: want done after one attempt, all %d tasks", info, n/10)
		}
	}
	done, err := c.client.List(ctx, jobcenter.Filter{Type: "sum", Status: jobcenter.Done})
	if err != nil || len(done) != 3 {
		t.Fatalf("List(done) = %d works, %v; want 3", len(done), err)
	}
}

func TestIdempotentSubmit(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	ctx := context.Background()
	for _, n := range []int64{100, 200} { // the second is a resubmission: ignored
		id, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "once", Input: input(n), Durable: true})
		if err != nil || id != "once" {
			t.Fatalf("Submit = %q, %v", id, err)
		}
	}
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "other", ID: "once"}); err == nil {
		t.Fatal("an existing id submitted with another type: want an error")
	}
	contractor(t, c.url, jobcenter.ContractorConfig{})
	out, err := wait(t, c.client, "once")
	checkSum(t, out, err, sumTo(100))
	all, err := c.client.List(ctx, jobcenter.Filter{})
	if err != nil || len(all) != 1 {
		t.Fatalf("List = %d works, %v; want 1", len(all), err)
	}
	if calls := c.worker.calls.Load(); calls != 10 {
		t.Fatalf("%d tasks ran, want the 10 of one work", calls)
	}
}

func TestDoWork(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := c.client.DoWork(ctx, jobcenter.Work{Type: "sum", Input: input(10)}); !errors.Is(err, jobcenter.ErrNoContractor) {
		t.Fatalf("DoWork with no contractor: %v, want ErrNoContractor", err)
	}
	t.Logf("DoWork with no contractor failed in %v", time.Since(start))
	contractor(t, c.url, jobcenter.ContractorConfig{})
	out, err := c.client.DoWork(ctx, jobcenter.Work{Type: "sum", Input: input(500)})
	checkSum(t, out, err, sumTo(500))
}

func TestCancel(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{})
	ctx := context.Background()
	// A waiting Work never starts.
	later, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", Input: input(10), NotBefore: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.client.Cancel(ctx, later); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, c.client, later); !errors.Is(err, jobcenter.ErrCancelled) {
		t.Fatalf("Wait on a cancelled waiting work: %v", err)
	}
	// A running Work is cancelled on its workers.
	blocked := input(40)
	blocked.SetBool("block", true)
	running, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", Input: blocked})
	if err != nil {
		t.Fatal(err)
	}
	for c.worker.calls.Load() < 4 { // its 4 tasks run on the 4 slots
		waitChange(t)
	}
	if err := c.client.Cancel(ctx, running); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, c.client, running); !errors.Is(err, jobcenter.ErrCancelled) {
		t.Fatalf("Wait on a cancelled running work: %v", err)
	}
	for c.worker.cancelled.Load() < 4 {
		waitChange(t)
	}
	info, err := c.client.Status(ctx, later)
	if err != nil || info.Attempts != 0 || info.Status != jobcenter.Cancelled {
		t.Fatalf("the waiting work: %+v, %v; want cancelled, never run", info, err)
	}
	if err := c.client.Cancel(ctx, running); err != nil {
		t.Fatalf("cancel twice: %v", err)
	}
}

// waitChange waits a little for something to change (the test's condition
// is checked by the caller's loop).
func waitChange(t *testing.T) {
	t.Helper()
	select {
	case <-time.After(10 * time.Millisecond):
	case <-t.Context().Done():
		t.Fatal("test ended")
	}
}

func TestChainOfThree(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{})
	ctx := context.Background()
	w := jobcenter.Work{Type: "sum", ID: "chain", Input: input(700), Durable: true,
		Next: &jobcenter.Work{Type: "sum", Next: &jobcenter.Work{Type: "sum", ID: "last"}}}
	if _, err := c.client.Submit(ctx, w); err != nil {
		t.Fatal(err)
	}
	out, err := wait(t, c.client, "chain")
	want := sumTo(nextN(sumTo(nextN(sumTo(700)))))
	checkSum(t, out, err, want)
	steps, err := c.client.Chain(ctx, "chain")
	if err != nil || len(steps) != 3 || steps[1].ID != "chain-next" || steps[2].ID != "last" {
		t.Fatalf("Chain = %d steps, %v", len(steps), err)
	}
	for _, s := range steps {
		if s.Status != jobcenter.Done {
			t.Fatalf("step %s is %s", s.ID, s.Status)
		}
	}
}

func TestChainStopsAtAFailedStep(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{})
	ctx := context.Background()
	bad := input(10)
	bad.SetString("fail", "no good")
	w := jobcenter.Work{Type: "sum", ID: "doomed", Input: bad, MaxAttempts: 2, Next: &jobcenter.Work{Type: "sum"}}
	if _, err := c.client.Submit(ctx, w); err != nil {
		t.Fatal(err)
	}
	_, err := wait(t, c.client, "doomed")
	var we *jobcenter.WorkError
	if !errors.As(err, &we) || we.ID != "doomed" || len(we.Errors) != 2 || we.Errors[1] != "attempt 2: no good" {
		t.Fatalf("Wait = %v, want the step doomed failed twice with 'no good'", err)
	}
	steps, err := c.client.Chain(ctx, "doomed")
	if err != nil || len(steps) != 1 || steps[0].Status != jobcenter.Failed {
		t.Fatalf("Chain = %v, %v: want one failed step", steps, err)
	}
	failed, err := c.client.List(ctx, jobcenter.Filter{Status: jobcenter.Failed})
	if err != nil || len(failed) != 1 {
		t.Fatalf("List(failed) = %d, %v", len(failed), err)
	}
}

// TestMalformedInput: a Work whose input does not decode fails at once with
// a clear error, and the queue goes on.
func TestMalformedInput(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{})
	ctx := context.Background()
	js, err := jetstream.New(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, jobcenter.WorksBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "i.bad", []byte("not a warehouse")); err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(jobcenter.Info{ID: "bad", Type: "sum", Durable: true, Status: jobcenter.Waiting,
		MaxAttempts: 3, Input: "kv:" + jobcenter.WorksBucket + ":i.bad", Created: time.Now()})
	if _, err := kv.Create(ctx, "w.bad", rec); err != nil {
		t.Fatal(err)
	}
	// The queue message of the malformed Work, and messages that name no
	// Work at all: a wildcard, an empty one, one far too long.
	for _, data := range [][]byte{[]byte("bad"), []byte("no such work!*"), []byte(">"), nil, make([]byte, 100<<10)} {
		if _, err := js.Publish(ctx, "fourinone.queue.sum.normal", data); err != nil {
			t.Fatal(err)
		}
	}
	good, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", Input: input(100)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := wait(t, c.client, good)
	checkSum(t, out, err, sumTo(100))
	_, err = wait(t, c.client, "bad")
	var we *jobcenter.WorkError
	if !errors.As(err, &we) || len(we.Errors) != 1 {
		t.Fatalf("Wait(bad) = %v, want one failed attempt", err)
	}
	t.Logf("the malformed work: %v", err)
	// Every queue message is answered: none waits, none is redelivered.
	cons, err := js.Consumer(ctx, jobcenter.QueueStream, "type-sum")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ci, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ci.NumPending == 0 && ci.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue keeps %d messages waiting and %d unanswered", ci.NumPending, ci.NumAckPending)
		}
		time.Sleep(50 * time.Millisecond) // the contractor answers them
	}
}

// TestManyAtOnce: Works submitted by many goroutines at once (the client
// sends them to the park in batches, the contractor reads and writes them
// in batches) each complete once with their own result, waited for by the
// client that submitted them and by another one.
func TestManyAtOnce(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{Concurrency: 4})
	_, other := connect(t, c.url)
	ctx := context.Background()
	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 20 {
				id, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", Input: input(int64(10 + i)), Durable: i%2 == 0})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = id
				waiter := c.client
				if i%5 == 0 {
					waiter = other // by its record, not a notification
				}
				out, err := wait(t, waiter, id)
				if err != nil {
					t.Error(err)
					return
				}
				if got, _ := out.Int64("sum"); got != sumTo(int64(10+i)) {
					t.Errorf("work %d: sum %d, want %d", i, got, sumTo(int64(10+i)))
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, id := range ids {
		info, err := c.client.Status(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if info.Status != jobcenter.Done || info.Attempts != 1 || info.Durable != (i%2 == 0) {
			t.Fatalf("work %d: %+v, want done after one attempt", i, info)
		}
	}
}

// TestDurableAcrossParkRestart: Works submitted before the park restarts
// (on its store) all complete once after it; a Work that is not durable is
// gone.
func TestDurableAcrossParkRestart(t *testing.T) {
	dir := t.TempDir()
	c := startCenter(t, parkserver.Config{StoreDir: dir, Listen: "127.0.0.1:0"})
	ctx := context.Background()
	const works = 20
	for i := range works {
		if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: fmt.Sprint("d", i), Input: input(int64(100 + i)), Durable: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "fleeting", Input: input(10)}); err != nil {
		t.Fatal(err)
	}
	listen := c.url[len("nats://"):]
	if err := c.park.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// A Work submitted while the park is down: the client says once that
	// it waits, and submits it once the park is back.
	core, logs := observer.New(zap.InfoLevel)
	c.client.SetLogger(zap.New(core))
	submitted := make(chan error, 1)
	go func() {
		_, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "during", Input: input(50), Durable: true})
		submitted <- err
	}()
	for deadline := time.Now().Add(time.Minute); logs.FilterMessage("the park does not answer; trying again").Len() == 0; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-submitted:
			t.Fatalf("a Work submitted while the park was down: %v, before the client said it waits", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no word of the park's absence within a minute: %v", logs.All())
		}
	}
	parktest.StartPark(t, parkserver.Config{StoreDir: dir, Listen: listen})
	if err := <-submitted; err != nil {
		t.Fatalf("a Work submitted while the park restarted: %v", err)
	}
	if n := logs.FilterMessage("the park does not answer; trying again").Len(); n != 1 {
		t.Fatalf("the client said %d times that the park does not answer, want once: %v", n, logs.All())
	}
	contractor(t, c.url, jobcenter.ContractorConfig{Concurrency: 4})
	for i := range works {
		out, err := wait(t, c.client, fmt.Sprint("d", i))
		checkSum(t, out, err, sumTo(int64(100+i)))
	}
	out, err := wait(t, c.client, "during")
	checkSum(t, out, err, sumTo(50))
	if _, err := c.client.Status(ctx, "fleeting"); !errors.Is(err, jobcenter.ErrNotFound) {
		t.Fatalf("the work that was not durable after a restart: %v, want ErrNotFound", err)
	}
	tasks := int64(50+9) / 10 // "during"
	for i := range works {
		tasks += int64(100+i+9) / 10
	}
	if calls := c.worker.calls.Load(); calls != tasks {
		t.Fatalf("%d tasks ran, want %d: each work once", calls, tasks)
	}
}

func TestFanIn(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{Concurrency: 2})
	ctx := context.Background()
	fan := warehouse.New()
	fan.SetStrings("deps", []string{"a", "b"})
	// Submitted before what it waits for.
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "c", Input: fan, After: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	for id, n := range map[string]int64{"a": 100, "b": 200} {
		if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: id, Input: input(n)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := wait(t, c.client, "c")
	checkSum(t, out, err, sumTo(nextN(sumTo(100)+sumTo(200))))

	bad := input(10)
	bad.SetString("fail", "broken")
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "bad", Input: bad, MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "d", Input: fan, After: []string{"a", "bad"}}); err != nil {
		t.Fatal(err)
	}
	_, err = wait(t, c.client, "d")
	var we *jobcenter.WorkError
	if !errors.As(err, &we) || we.ID != "d" || we.Errors[len(we.Errors)-1] != "the work it waits for, bad, is failed" {
		t.Fatalf("a fan-in work after a failed one: %v", err)
	}
}

func TestPriority(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		id, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: fmt.Sprint("normal", i), Input: input(100)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "urgent", Input: input(100), Priority: 1}); err != nil {
		t.Fatal(err)
	}
	contractor(t, c.url, jobcenter.ContractorConfig{})
	out, err := wait(t, c.client, "urgent")
	checkSum(t, out, err, sumTo(100))
	urgent, _ := c.client.Status(ctx, "urgent")
	for _, id := range ids {
		out, err := wait(t, c.client, id)
		checkSum(t, out, err, sumTo(100))
		info, _ := c.client.Status(ctx, id)
		if !info.Started.After(urgent.Finished) {
			t.Fatalf("%s started at %v, before the urgent work was done at %v", id, info.Started, urgent.Finished)
		}
	}
}

// TestBlobsAndRetention: inputs and results of every size come back whole
// (in the record, in an entry, in the object store); Clean deletes final
// Works past their retention with their blobs, and keeps the others.
func TestBlobsAndRetention(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{Concurrency: 2})
	ctx := context.Background()
	for _, size := range []int64{10, 200 << 10, 9 << 20} {
		in := input(100)
		in.SetBytes("pad", make([]byte, size))
		in.SetInt64("result_bytes", size)
		id := fmt.Sprint("size", size)
		if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: id, Input: in, Durable: true}); err != nil {
			t.Fatal(err)
		}
		out, err := wait(t, c.client, id)
		checkSum(t, out, err, sumTo(100))
		if b, _ := out.Bytes("blob"); int64(len(b)) != size {
			t.Fatalf("work %s: a result of %d bytes, want %d", id, len(b), size)
		}
	}
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "later", Input: input(10), NotBefore: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := jobcenter.Clean(ctx, js, time.Hour); err != nil || n != 0 {
		t.Fatalf("Clean(1h) = %d, %v; want nothing that young", n, err)
	}
	if n, err := jobcenter.Clean(ctx, js, 0); err != nil || n != 3 {
		t.Fatalf("Clean(0) = %d, %v; want the 3 done works", n, err)
	}
	if _, err := c.client.Status(ctx, "size10"); !errors.Is(err, jobcenter.ErrNotFound) {
		t.Fatalf("a cleaned work: %v", err)
	}
	if info, err := c.client.Status(ctx, "later"); err != nil || info.Status != jobcenter.Waiting {
		t.Fatalf("the waiting work after Clean: %+v, %v", info, err)
	}
	blobs, err := js.ObjectStore(ctx, jobcenter.BlobStore)
	if err != nil {
		t.Fatal(err)
	}
	if list, err := blobs.List(ctx); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Fatalf("objects left after Clean: %d, %v", len(list), err)
	}
	kv, err := js.KeyValue(ctx, jobcenter.WorksBucket)
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := kv.ListKeys(ctx); err == nil {
		var left []string
		for k := range keys.Keys() {
			left = append(left, k)
		}
		if len(left) != 0 {
			t.Fatalf("entries left after Clean: %v", left)
		}
	}
}

func TestResubmit(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{})
	ctx := context.Background()
	in := input(100)
	in.SetBool("fail_first", true)
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "again", Input: in, MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t, c.client, "again"); err == nil {
		t.Fatal("the first run must fail")
	}
	if err := c.client.Resubmit(ctx, "again"); err != nil {
		t.Fatal(err)
	}
	out, err := wait(t, c.client, "again")
	checkSum(t, out, err, sumTo(100))
	info, _ := c.client.Status(ctx, "again")
	if info.Attempts != 1 || len(info.Errors) != 1 {
		t.Fatalf("record %+v: want one attempt since the resubmission, the first error kept", info)
	}
}

// TestClusterUpgradesAParkStore: a single park server's store becomes one
// server's of a 3-server cluster: the durable Works it kept (waiting, with
// their inputs) are kept with three replicas and run to the exact result.
func TestClusterUpgradesAParkStore(t *testing.T) {
	parktest.NeedCluster(t)
	dir := t.TempDir()
	single := parktest.StartPark(t, parkserver.Config{StoreDir: dir})
	_, client := connect(t, single.ClientURL())
	ctx := context.Background()
	const works = 10
	for i := range works {
		if _, err := client.Submit(ctx, jobcenter.Work{Type: "sum", ID: fmt.Sprint("u", i), Input: input(int64(100 + i)), Durable: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := single.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, urls := parktest.StartClusterOn(t, []string{dir, t.TempDir(), t.TempDir()}, parkserver.Config{})
	worker := &sumWorker{}
	for range 2 {
		parktest.StartWorkman(t, urls, workman.Config{Type: "sum", Capacity: 2}, worker)
	}
	nc, client := connect(t, urls)
	contractor(t, urls, jobcenter.ContractorConfig{Concurrency: 2})
	for i := range works {
		out, err := wait(t, client, fmt.Sprint("u", i))
		checkSum(t, out, err, sumTo(int64(100+i)))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"KV_" + jobcenter.WorksBucket, jobcenter.QueueStream} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if info := st.CachedInfo(); info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("%s after the upgrade: %d replicas, cluster %+v; want 3", name, info.Config.Replicas, info.Cluster)
		}
	}
}

// A chain that loops (Next pointing back) or repeats an ID is refused at
// Submit, at once, with nothing stored; Works that wait for each other
// (After) fail, each saying why, instead of waiting for ever.
func TestLoopsRefused(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	loop := jobcenter.Work{Type: "sum", Input: input(10)}
	second := jobcenter.Work{Type: "sum", Next: &loop}
	loop.Next = &second
	if _, err := c.client.Submit(ctx, loop); err == nil || !strings.Contains(err.Error(), "a loop or longer than 64") {
		t.Fatalf("Submit of a looping chain: %v", err)
	}
	long := &jobcenter.Work{Type: "sum"}
	for range jobcenter.MaxChain {
		long = &jobcenter.Work{Type: "sum", Next: long}
	}
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", Input: input(10), Next: long}); err == nil {
		t.Fatal("Submit of a chain of 66 Works: no error")
	}
	again := jobcenter.Work{Type: "sum", ID: "x", Input: input(10), Next: &jobcenter.Work{Type: "sum", ID: "y", Next: &jobcenter.Work{Type: "sum", ID: "x"}}}
	if _, err := c.client.Submit(ctx, again); err == nil || !strings.Contains(err.Error(), `names "x" twice`) {
		t.Fatalf("Submit of a chain naming x twice: %v", err)
	}
	if all, err := c.client.List(ctx, jobcenter.Filter{}); err != nil || len(all) != 0 {
		t.Fatalf("after refused chains: %d works kept, %v", len(all), err)
	}
	// a waits for b, b for c, c for a; d waits for a.
	for id, after := range map[string]string{"a": "b", "b": "c", "c": "a", "d": "a"} {
		if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: id, Input: input(10), After: []string{after}}); err != nil {
			t.Fatal(err)
		}
	}
	contractor(t, c.url, jobcenter.ContractorConfig{Concurrency: 2})
	for _, id := range []string{"a", "b", "c", "d"} {
		_, err := wait(t, c.client, id)
		var we *jobcenter.WorkError
		if !errors.As(err, &we) || we.ID != id {
			t.Fatalf("work %s in a loop: %v, want it failed", id, err)
		}
		why := we.Errors[len(we.Errors)-1]
		if !strings.HasPrefix(why, "it waits for itself: "+id+" -> ") && !strings.HasPrefix(why, "the work it waits for, ") {
			t.Fatalf("work %s failed with %q, want the loop or its failed dependency", id, why)
		}
	}
	if n := c.worker.calls.Load(); n != 0 {
		t.Fatalf("%d tasks ran for Works in a loop", n)
	}
}

// 10,000 Submits of one ID at once: each returns the ID, the park keeps
// one Work, and it runs once.
func TestSubmitOneIDAtOnce(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	contractor(t, c.url, jobcenter.ContractorConfig{Concurrency: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 10_000
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			id, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "same", Input: input(100), Durable: true})
			if err == nil && id != "same" {
				err = fmt.Errorf("Submit returned %q", id)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err := wait(t, c.client, "same")
	checkSum(t, out, err, sumTo(100))
	all, err := c.client.List(ctx, jobcenter.Filter{})
	if err != nil || len(all) != 1 || all[0].Attempts != 1 {
		t.Fatalf("List = %d works (%v), want one run once", len(all), err)
	}
	if calls := c.worker.calls.Load(); calls != 10 {
		t.Fatalf("%d tasks ran, want the 10 of one Work", calls)
	}
}

// TestSubmitMany: Works submitted together each run once, with their own
// results and errors: a bad one and one kept already with another type
// fail alone, one kept already is left as it is.
func TestSubmitMany(t *testing.T) {
	c := startCenter(t, parkserver.Config{})
	ctx := context.Background()
	if _, err := c.client.Submit(ctx, jobcenter.Work{Type: "sum", ID: "kept", Input: input(50), Durable: true}); err != nil {
		t.Fatal(err)
	}
	const n = 300 // more than one batch
	works := make([]jobcenter.Work, n)
	for i := range works {
		works[i] = jobcenter.Work{Type: "sum", Input: input(int64(10 + i)), Durable: i%2 == 0}
	}
	works[7] = jobcenter.Work{Type: "no such type!"}
	works[8] = jobcenter.Work{Type: "other", ID: "kept"}
	works[9] = jobcenter.Work{Type: "sum", ID: "kept", Input: input(70), Durable: true}
	ids, errs := c.client.SubmitMany(ctx, works)
	contractor(t, c.url, jobcenter.ContractorConfig{Concurrency: 4})
	tasks := int64(50 / 10)
	seen := map[string]bool{}
	for i := range works {
		switch i {
		case 7, 8:
			if errs[i] == nil {
				t.Fatalf("work %d (%+v) submitted: want an error", i, works[i])
			}
			continue
		case 9:
			if ids[i] != "kept" || errs[i] != nil {
				t.Fatalf("work kept already: %q, %v", ids[i], errs[i])
			}
			continue
		}
		if errs[i] != nil || ids[i] == "" || seen[ids[i]] {
			t.Fatalf("work %d: %q, %v; want a new ID", i, ids[i], errs[i])
		}
		seen[ids[i]] = true
		out, err := wait(t, c.client, ids[i])
		checkSum(t, out, err, sumTo(int64(10+i)))
		tasks += int64(10+i+9) / 10 // tasks of 10
	}
	out, err := wait(t, c.client, "kept")
	checkSum(t, out, err, sumTo(50))
	if calls := c.worker.calls.Load(); calls != tasks {
		t.Fatalf("%d tasks ran, want %d: each work once", calls, tasks)
	}
}
