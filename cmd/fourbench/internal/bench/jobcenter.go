package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// noopWork runs one empty task on a "noop" worker.
var noopWork = jobcenter.Definition{Type: "noop", Workers: 2,
	Job: func(context.Context, *warehouse.Warehouse) (splitter.Splitter, combiner.Combiner, error) {
		keep := combiner.Func(func(acc, _ *warehouse.Warehouse) (*warehouse.Warehouse, error) { return acc, nil })
		return splitter.Tasks(warehouse.New()), keep, nil
	}}

// jobCenter measures durable no-op Works from submit to done with one
// contractor on 2 workers, against the floor of raw JetStream (publish to
// a work-queue stream, consume and acknowledge, pipelined) and the least
// durable Work (see leastWork) on the same park, with the CPU time a Work
// and a raw message cost each process; the latency of one Work on an idle
// cluster; and the park's memory with many Works waiting.
func (s *suite) jobCenter(ctx context.Context) error {
	wk, err := s.child(ctx, "-role", "workmen", "-park", s.park.url, "-mode", "mesh", "-type", "noop", "-n", "2", "-capacity", "32")
	if err != nil {
		return err
	}
	defer s.stopChild(wk)
	nc, err := connect(s.park.url)
	if err != nil {
		return err
	}
	defer nc.Close()
	// CPU is read of the park (every server of a cluster), the workmen and
	// this process (the client, the contractor and its foreman) around
	// each measurement.
	pids := [][]int{s.parkPIDs, {wk.cmd.Process.Pid}, {os.Getpid()}}
	c0, err := cpusOf(pids)
	if err != nil {
		return err
	}
	floor, err := rawQueue(ctx, nc, s.o.Works, s.replicas)
	if err != nil {
		return fmt.Errorf("raw JetStream: %w", err)
	}
	c1, err := cpusOf(pids)
	if err != nil {
		return err
	}
	least, err := leastWork(ctx, nc, wk.url, s.o.Works, s.replicas)
	if err != nil {
		return fmt.Errorf("the least durable Work: %w", err)
	}
	c1least, err := cpusOf(pids)
	if err != nil {
		return err
	}
	client, err := jobcenter.New(ctx, nc)
	if err != nil {
		return err
	}
	f, err := foreman.Dial(ctx, s.park.url, foremanConfig())
	if err != nil {
		return err
	}
	defer f.Close()
	// The contractor has a connection of its own, as in a process of its
	// own.
	cnc, err := connect(s.park.url)
	if err != nil {
		return err
	}
	defer cnc.Close()
	c, err := jobcenter.NewContractor(ctx, cnc, f, noopWork, jobcenter.ContractorConfig{Concurrency: 256})
	if err != nil {
		return err
	}
	cctx, stop := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() { defer close(served); _ = c.Serve(cctx) }()
	defer func() { stop(); <-served }()

	// Latency first, on the idle cluster.
	var lat []time.Duration
	for i := range 200 {
		t0 := time.Now()
		id, err := client.Submit(ctx, jobcenter.Work{Type: "noop", Durable: true})
		if err == nil {
			_, err = client.Wait(ctx, id)
		}
		if err != nil {
			return err
		}
		if i >= 20 {
			lat = append(lat, time.Since(t0))
		}
	}
	p50, p99 := quantiles(lat)

	// Submitted and waited for by 512 goroutines each, as a program with
	// many Works would: the client sends what they submit at once in
	// batches, the contractor its reads and writes, and the more Works are
	// on their way the bigger the batches (fewer and more goroutines were
	// slower: docs/jobcenter.md).
	t0 := time.Now()
	ids := make(chan string, s.o.Works)
	var wg, waiters sync.WaitGroup
	var failed atomic.Value
	var submitted, n atomic.Int64
	for range 512 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for submitted.Add(1) <= int64(s.o.Works) {
				id, err := client.Submit(ctx, jobcenter.Work{Type: "noop", Durable: true})
				if err != nil {
					failed.Store(err)
					return
				}
				ids <- id
			}
		}()
		waiters.Add(1)
		go func() {
			defer waiters.Done()
			for id := range ids {
				if _, err := client.Wait(ctx, id); err != nil {
					failed.Store(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	close(ids)
	waiters.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	took := time.Since(t0)
	c2, err := cpusOf(pids)
	if err != nil {
		return err
	}
	rate := float64(n.Load()) / took.Seconds()

	// Submitted in batches of 100 (SubmitMany) by 16 goroutines, each
	// waiting for its batch before the next.
	t0 = time.Now()
	var batched atomic.Int64
	submitted.Store(0)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for submitted.Add(100) <= int64(s.o.Works) {
				works := make([]jobcenter.Work, 100)
				for i := range works {
					works[i] = jobcenter.Work{Type: "noop", Durable: true}
				}
				ids, errs := client.SubmitMany(ctx, works)
				if err := errors.Join(errs...); err != nil {
					failed.Store(err)
					return
				}
				for _, id := range ids {
					if _, err := client.Wait(ctx, id); err != nil {
						failed.Store(err)
						return
					}
					batched.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	batchRate := float64(batched.Load()) / time.Since(t0).Seconds()
	stop()
	<-served

	// Memory: Works left waiting (no contractor serves "idle").
	rss0, err := rssOf(s.park.cmd.Process.Pid)
	if err != nil {
		return err
	}
	if err := submitMany(ctx, client, s.o.WaitingWorks); err != nil {
		return err
	}
	rss, err := rssOf(s.park.cmd.Process.Pid)
	if err != nil {
		return err
	}
	// And once JetStream's caches of what was just written have expired
	// (for a count worth the wait).
	settled := rss
	if s.o.WaitingWorks >= 100_000 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(30 * time.Second):
		}
		if settled, err = rssOf(s.park.cmd.Process.Pid); err != nil {
			return err
		}
	}
	s.rows = append(s.rows,
		row{fmt.Sprintf("durable no-op Works, submit to done, 1 contractor, 2 workers (n=%d)", n.Load()), fmt.Sprintf("%.0f/s", rate),
			fmt.Sprintf("%.0f/s (the least durable Work)", least), fmt.Sprintf("%.0f%%", 100*rate/least), ">= 50%"},
		row{fmt.Sprintf("durable no-op Works submitted 100 at a time (SubmitMany), submit to done (n=%d)", batched.Load()),
			fmt.Sprintf("%.0f/s", batchRate), fmt.Sprintf("%.0f/s (the least durable Work)", least), fmt.Sprintf("%.0f%%", 100*batchRate/least), ">= 25,000/s"},
		row{"CPU per durable Work (park + workmen + client and contractor)", perEach(c1least, c2, n.Load()),
			perEach(c0, c1, int64(s.o.Works)) + " per raw message", "", ""},
		row{"the least durable Work, no framework (2 stored messages, a delivery, a task)", fmt.Sprintf("%.0f/s", least),
			fmt.Sprintf("%.0f/s (raw JetStream queue)", floor), fmt.Sprintf("%.0f%%", 100*least/floor), ""},
		row{"CPU per least durable Work (park + workmen + this process)", perEach(c1, c1least, int64(s.o.Works)), "", "", ""},
		row{"one Work submit to done, idle, p50", us(p50), "", "", "< 1 ms"},
		row{"one Work submit to done, idle, p99", us(p99), "", "", ""},
		row{fmt.Sprintf("park server resident memory, %d Works waiting", s.o.WaitingWorks), waitingRSS(rss, settled, rss0, s.o.WaitingWorks >= 100_000), "", "", "< 1 GB at 1,000,000"})
	return nil
}

// submitMany submits n durable Works of a type nobody serves, in batches
// of 100, 8 batches at a time.
func submitMany(ctx context.Context, client *jobcenter.Client, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g * 100; i < n; i += 800 {
				works := make([]jobcenter.Work, min(100, n-i))
				for k := range works {
					works[k] = jobcenter.Work{Type: "idle", Durable: true}
				}
				if _, errs1 := client.SubmitMany(ctx, works); errors.Join(errs1...) != nil {
					errs <- errors.Join(errs1...)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// rawQueue is the floor: n messages of a Work ID's size published to a
// file-storage work-queue stream (asynchronously, as fast as JetStream
// acknowledges) and consumed and acknowledged by a pull consumer, at once.
func rawQueue(ctx context.Context, nc *nats.Conn, n, replicas int) (float64, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return 0, err
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH_RAW", Subjects: []string{"bench.raw"},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage, Replicas: max(replicas, 1)})
	if err != nil {
		return 0, err
	}
	defer func() { _ = js.DeleteStream(context.Background(), "BENCH_RAW") }()
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		return 0, err
	}
	payload := []byte(uuid.NewString())
	t0 := time.Now()
	consumed := make(chan error, 1)
	go func() {
		got := 0
		for got < n {
			batch, err := cons.Fetch(min(256, n-got), jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				consumed <- err
				return
			}
			for m := range batch.Messages() {
				if err := m.Ack(); err != nil {
					consumed <- err
					return
				}
				got++
			}
		}
		consumed <- nil
	}()
	for range n {
		if _, err := js.PublishAsync("bench.raw", payload); err != nil {
			return 0, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if err := <-consumed; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(t0).Seconds(), nil
}

// waitingRSS is the waiting Works' memory row: after submitting, 30 s
// later if measured, and before.
func waitingRSS(rss, settled, before int64, later bool) string {
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	if later {
		return fmt.Sprintf("%.0f MB (%.0f MB 30 s later, %.0f MB before)", mb(rss), mb(settled), mb(before))
	}
	return fmt.Sprintf("%.0f MB (%.0f MB before)", mb(rss), mb(before))
}

// cpusOf reads the CPU time each group of processes has used.
func cpusOf(groups [][]int) ([]time.Duration, error) {
	out := make([]time.Duration, len(groups))
	for i, pids := range groups {
		var err error
		if out[i], err = cpuOf(pids); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// perEach is the CPU time per item between two readings of cpusOf: the
// sum, then each process's share.
func perEach(before, after []time.Duration, n int64) string {
	var sum time.Duration
	parts := make([]string, len(before))
	for i := range before {
		d := (after[i] - before[i]) / time.Duration(max(n, 1))
		sum += d
		parts[i] = fmt.Sprintf("%.0f", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.0f µs (%s)", float64(sum)/float64(time.Microsecond), strings.Join(parts, " + "))
}

// leastWork is the second floor: the least a durable Work can be, with no
// framework. Its record is created once (a compare-and-set on a subject of
// its own, in file storage, as a KV bucket keeps it), delivered to a pull
// consumer, its task sent to the workmen process's raw responder, its done
// record created once, and its delivery acknowledged once that is stored:
// two stored messages, a delivery and a task. It reads no record, marks
// nothing running, notifies nobody and runs no foreman, so a job center
// that does what docs/jobcenter.md promises costs more.
func leastWork(ctx context.Context, nc *nats.Conn, workURL string, n, replicas int) (float64, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(256))
	if err != nil {
		return 0, err
	}
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "BENCH_LEAST", Subjects: []string{"bench.least.>"},
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1), MaxMsgsPerSubject: 1})
	if err != nil {
		return 0, err
	}
	defer func() { _ = js.DeleteStream(context.Background(), "BENCH_LEAST") }()
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "least", AckPolicy: jetstream.AckExplicitPolicy,
		FilterSubject: "bench.least.w.*", MaxAckPending: 1024})
	if err != nil {
		return 0, err
	}
	wnc, err := connect(workURL)
	if err != nil {
		return 0, err
	}
	defer wnc.Close()

	// A delivered record waits for its task's answer here, then for its
	// done record's acknowledgement in stored.
	type pending struct {
		m   jetstream.Msg
		ack jetstream.PubAckFuture
	}
	var mu sync.Mutex
	tasks := map[string]jetstream.Msg{}
	stored := make(chan pending, 1024)
	failed := make(chan error, 1)
	quit := make(chan struct{}) // closed at return: nothing here waits after
	defer close(quit)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	inbox := nats.NewInbox()
	sub, err := wnc.Subscribe(inbox+".*", func(r *nats.Msg) {
		id := r.Subject[len(inbox)+1:]
		mu.Lock()
		m := tasks[id]
		delete(tasks, id)
		mu.Unlock()
		done := nats.NewMsg("bench.least.d." + id)
		done.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		done.Data = r.Data
		ack, err := js.PublishMsgAsync(done)
		if err != nil {
			fail(err)
			return
		}
		select {
		case stored <- pending{m, ack}:
		case <-quit:
		}
	})
	if err != nil {
		return 0, err
	}
	_ = sub.SetPendingLimits(-1, -1)
	task := []byte{0, 0, 'F', 'W', 1, 0, 0, 0}

	t0 := time.Now()
	cc, err := cons.Consume(func(m jetstream.Msg) {
		id := m.Subject()[len("bench.least.w."):]
		mu.Lock()
		tasks[id] = m
		mu.Unlock()
		if err := wnc.PublishRequest(RawSubject, inbox+"."+id, task); err != nil {
			fail(err)
		}
	}, jetstream.PullMaxMessages(512))
	if err != nil {
		return 0, err
	}
	defer cc.Stop()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for got := 0; got < n; got++ {
			var p pending
			select {
			case p = <-stored:
			case <-quit:
				return
			case <-ctx.Done():
				return
			}
			select {
			case <-p.ack.Ok():
			case err := <-p.ack.Err():
				fail(err)
				return
			case <-quit:
				return
			}
			if err := p.m.Ack(); err != nil {
				fail(err)
				return
			}
		}
	}()
	created := make(chan jetstream.PubAckFuture, 256)
	go func() {
		for ack := range created {
			select {
			case <-ack.Ok():
			case err := <-ack.Err():
				fail(fmt.Errorf("create: %w", err))
			case <-quit:
				return
			}
		}
	}()
	defer close(created)
	for range n {
		m := nats.NewMsg("bench.least.w." + uuid.NewString())
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		m.Data = []byte(m.Subject[len("bench.least.w."):])
		ack, err := js.PublishMsgAsync(m)
		if err != nil {
			return 0, err
		}
		created <- ack
	}
	select {
	case <-finished:
	case err := <-failed:
		return 0, err
	}
	select {
	case err := <-failed:
		return 0, err
	default:
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	rate := float64(n) / time.Since(t0).Seconds()
	// Each Work created once and done once.
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	if info.State.Msgs != uint64(2*n) {
		return 0, fmt.Errorf("%d records stored for %d Works, want %d", info.State.Msgs, n, 2*n)
	}
	return rate, nil
}
