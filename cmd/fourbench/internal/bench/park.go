package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/fourinone-go/fourinone/park"
	"github.com/nats-io/nats.go/jetstream"
)

// coordination measures the park's coordination service next to raw KV
// operations on the same park, in the same run: an uncontended Lock and
// Unlock against a KV create and delete (the least a lock can be), and a
// Watch notification (from the start of an Update on one connection to
// the event on another) against a raw KV put seen by a raw KV watch.
func (s *suite) coordination(ctx context.Context) error {
	n := max(s.o.Calls/10, 100) // each a few journaled writes
	nc1, err := connect(s.park.url)
	if err != nil {
		return err
	}
	defer nc1.Close()
	nc2, err := connect(s.park.url)
	if err != nil {
		return err
	}
	defer nc2.Close()
	c1, err := park.New(ctx, nc1, park.Options{})
	if err != nil {
		return err
	}
	defer c1.Close()
	c2, err := park.New(ctx, nc2, park.Options{})
	if err != nil {
		return err
	}
	defer c2.Close()

	// Raw: a KV bucket of the same kind as the park's, its own.
	js1, _ := jetstream.New(nc1)
	js2, _ := jetstream.New(nc2)
	kv1, err := js1.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench_raw", History: 64, Storage: jetstream.FileStorage})
	if err != nil {
		return err
	}
	defer func() { _ = js1.DeleteKeyValue(context.Background(), "bench_raw") }()
	kv2, err := js2.KeyValue(ctx, "bench_raw")
	if err != nil {
		return err
	}

	rawLock, err := timeEach(n, func(i int) error {
		k := "lock." + strconv.Itoa(i)
		if _, err := kv1.Create(ctx, k, nil); err != nil {
			return err
		}
		return kv1.Delete(ctx, k)
	})
	if err != nil {
		return fmt.Errorf("raw lock: %w", err)
	}
	lock, err := timeEach(n, func(int) error {
		l, err := c1.Lock(ctx, "bench")
		if err != nil {
			return err
		}
		return l.Unlock(ctx)
	})
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}

	rawWatch, err := watchLatency(ctx, n, func(ctx context.Context) (<-chan time.Time, error) {
		w, err := kv2.Watch(ctx, "cfg", jetstream.UpdatesOnly())
		if err != nil {
			return nil, err
		}
		out := make(chan time.Time, 1)
		go func() {
			defer w.Stop()
			for e := range w.Updates() {
				if e != nil {
					out <- time.Now()
				}
			}
		}()
		return out, nil
	}, func(i int) error {
		_, err := kv1.Put(ctx, "cfg", []byte(strconv.Itoa(i)))
		return err
	})
	if err != nil {
		return fmt.Errorf("raw watch: %w", err)
	}
	if _, err := c1.Create(ctx, "bench", "cfg", []byte("-1")); err != nil {
		return err
	}
	watch, err := watchLatency(ctx, n, func(ctx context.Context) (<-chan time.Time, error) {
		events, err := c2.Watch(ctx, "bench", "cfg")
		if err != nil {
			return nil, err
		}
		out := make(chan time.Time, 1)
		go func() {
			for range events {
				out <- time.Now()
			}
		}()
		return out, nil
	}, func(i int) error {
		_, err := c1.Update(ctx, "bench", "cfg", []byte(strconv.Itoa(i)))
		return err
	})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	for _, r := range []struct {
		what      string
		got, raw  []time.Duration
		floorWhat string
		target    string
	}{
		{"park Lock + Unlock, uncontended", lock, rawLock, "KV create + delete", "<= 3x"},
		{"park Watch notification (Update to event)", watch, rawWatch, "KV put to watch", "<= 1.5x"},
	} {
		p50, p99 := quantiles(r.got)
		f50, f99 := quantiles(r.raw)
		s.rows = append(s.rows,
			row{r.what + ", p50", us(p50), us(f50) + " (" + r.floorWhat + ")", fmt.Sprintf("%.1fx", float64(p50)/float64(f50)), r.target},
			row{r.what + ", p99", us(p99), us(f99) + " (" + r.floorWhat + ")", fmt.Sprintf("%.1fx", float64(p99)/float64(f99)), r.target})
	}
	return nil
}

// timeEach times n calls of f, one after another.
func timeEach(n int, f func(i int) error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if err := f(i); err != nil {
			return nil, err
		}
		out = append(out, time.Since(t0))
	}
	return out, nil
}

// watchLatency times n writes from their start until a watcher (started
// once, with watch) is told of them.
func watchLatency(ctx context.Context, n int, watch func(context.Context) (<-chan time.Time, error), write func(i int) error) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen, err := watch(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if err := write(i); err != nil {
			return nil, err
		}
		select {
		case t := <-seen:
			out = append(out, t.Sub(t0))
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("write %d not seen in 5s", i)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}
