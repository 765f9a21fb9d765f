package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// record is a task's input and result of about 1 KiB: names, numbers, a
// vector of 100 floats, a time and a small map.
type record struct {
	ID      string
	Shard   int64
	Query   string
	Weights []float64
	Labels  map[string]string
	Since   time.Time
	Limit   int64
	Exact   bool
}

func newRecord(i int) record {
	r := record{ID: fmt.Sprintf("3f2a9c1e-5b7d-4e8f-9a0b-%012d", i), Shard: int64(i), Query: "select the rows of shard seventeen whose weights exceed the threshold",
		Labels: map[string]string{"team": "search", "tier": "gold", "region": "eu-west"}, Since: time.Date(2026, 12, 6, 3, 0, 0, i, time.UTC), Limit: 1000, Exact: true}
	for j := range 100 {
		r.Weights = append(r.Weights, float64(i+j)*0.37)
	}
	return r
}

// put is the record encoded by hand into Warehouse fields: what a user of
// the untyped API writes.
func (r record) put() *warehouse.Warehouse {
	w := warehouse.New()
	w.SetString("id", r.ID)
	w.SetInt64("shard", r.Shard)
	w.SetString("query", r.Query)
	w.SetFloat64s("weights", r.Weights)
	labels := make([]string, 0, 2*len(r.Labels))
	for k, v := range r.Labels {
		labels = append(labels, k, v)
	}
	w.SetStrings("labels", labels)
	w.SetInt64("since", r.Since.UnixNano())
	w.SetInt64("limit", r.Limit)
	w.SetBool("exact", r.Exact)
	return w
}

// getRecord decodes a record put by hand.
func getRecord(w *warehouse.Warehouse) (record, error) {
	var r record
	var ok [8]bool
	var since int64
	var labels []string
	r.ID, ok[0] = w.String("id")
	r.Shard, ok[1] = w.Int64("shard")
	r.Query, ok[2] = w.String("query")
	r.Weights, ok[3] = w.Float64s("weights")
	labels, ok[4] = w.Strings("labels")
	since, ok[5] = w.Int64("since")
	r.Limit, ok[6] = w.Int64("limit")
	r.Exact, ok[7] = w.Bool("exact")
	if slices.Contains(ok[:], false) || len(labels)%2 != 0 {
		return r, fmt.Errorf("not a record: keys %q", w.Keys())
	}
	r.Labels = make(map[string]string, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		r.Labels[labels[i]] = labels[i+1]
	}
	r.Since = time.Unix(0, since).UTC()
	return r, nil
}

// The workers of the typed step: each returns its record, decoded and
// encoded again, typed or by hand; and a typed no-op.
var (
	typedRecord = workman.Func(func(_ context.Context, r record) (record, error) { return r, nil })
	handRecord  = workman.WorkerFunc(func(_ context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		r, err := getRecord(in)
		if err != nil {
			return nil, err
		}
		return r.put(), nil
	})
	typedNoop = workman.Func(func(context.Context, struct{}) (struct{}, error) { return struct{}{}, nil })
)

// typed measures the typed API against the same work by hand: a 1 KiB
// record's round trip and throughput, and no-op throughput.
func (s *suite) typed(ctx context.Context) error {
	f, err := s.foremanOf(ctx, map[string]int{"trecord": 2, "hrecord": 2, "tnoop": 2, "noop": 2})
	if err != nil {
		return err
	}
	defer f.close()
	want := newRecord(7)
	check := func(r record) error {
		if r.ID != want.ID || !slices.Equal(r.Weights, want.Weights) || !r.Since.Equal(want.Since) || len(r.Labels) != 3 {
			return fmt.Errorf("record came back as %+v", r)
		}
		return nil
	}
	n := s.o.Calls
	typed := make([]time.Duration, 0, n)
	hand := make([]time.Duration, 0, n)
	for i := -n / 10; i < n; i += 100 {
		for range 100 {
			t0 := time.Now()
			r, err := foreman.Do[record, record](ctx, f.ws["trecord"][0], want)
			if err != nil {
				return err
			}
			if i >= 0 {
				typed = append(typed, time.Since(t0))
			}
			if err := check(r); err != nil {
				return err
			}
		}
		for range 100 {
			t0 := time.Now()
			out, err := f.ws["hrecord"][0].DoTask(ctx, want.put()).Wait(ctx)
			if err != nil {
				return err
			}
			r, err := getRecord(out)
			if i >= 0 {
				hand = append(hand, time.Since(t0))
			}
			if err != nil {
				return err
			}
			if err := check(r); err != nil {
				return err
			}
		}
	}
	t50, _ := quantiles(typed)
	h50, _ := quantiles(hand)
	s.rows = append(s.rows, row{fmt.Sprintf("1 KiB record round trip, typed (Do) vs by hand, median (n=%d)", len(typed)), us(t50), us(h50),
		fmt.Sprintf("%.2fx", float64(t50)/float64(h50)), "<= 1.10x"})

	// Throughput: records through Collect vs Run by hand, on 2 workers.
	tasks := max(s.o.Tasks/5, 100)
	recs := make([]record, tasks)
	for i := range recs {
		recs[i] = newRecord(i)
	}
	tt, th, err := bestInTurn(3, func() error {
		out, err := foreman.Collect[record, record](ctx, f.f, f.ws["trecord"], recs, foreman.NoJoin())
		if err == nil && out[tasks-1].ID != recs[tasks-1].ID {
			err = fmt.Errorf("record %d came back as %s", tasks-1, out[tasks-1].ID)
		}
		return err
	}, func() error {
		out := make([]record, tasks)
		_, err := f.f.Run(ctx, f.ws["hrecord"], splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
			for _, r := range recs {
				if err := emit(r.put()); err != nil {
					return err
				}
			}
			return nil
		}), combiner.Func(func(acc, res *warehouse.Warehouse) (*warehouse.Warehouse, error) {
			r, err := getRecord(res)
			if err == nil {
				out[r.Shard] = r
			}
			return acc, err
		}), foreman.NoJoin())
		if err == nil && out[tasks-1].ID != recs[tasks-1].ID {
			err = fmt.Errorf("record %d came back as %s", tasks-1, out[tasks-1].ID)
		}
		return err
	})
	if err != nil {
		return err
	}
	s.rows = append(s.rows, row{fmt.Sprintf("1 KiB records, typed (Collect) vs by hand (Run), 2 workers x %d slots (n=%d)", s.o.Slots, tasks),
		rate(tasks, tt), rate(tasks, th), fmt.Sprintf("%.0f%%", 100*th.Seconds()/tt.Seconds()), ">= 91%"})

	// No-op throughput: Map of empty structs vs Run of empty Warehouses.
	tasks = s.o.Tasks
	tt, th, err = bestInTurn(3, func() error {
		n := 0
		err := foreman.Map(ctx, f.f, f.ws["tnoop"], func(yield func(struct{}) bool) {
			for range tasks {
				if !yield(struct{}{}) {
					return
				}
			}
		}, func(int, struct{}) error { n++; return nil }, foreman.NoJoin())
		if err == nil && n != tasks {
			err = fmt.Errorf("%d results of %d tasks", n, tasks)
		}
		return err
	}, func() error {
		n := 0
		_, err := f.f.Run(ctx, f.ws["noop"], splitter.IntRange(0, int64(tasks), 1), combiner.Func(func(acc, _ *warehouse.Warehouse) (*warehouse.Warehouse, error) {
			n++
			return acc, nil
		}), foreman.NoJoin())
		if err == nil && n != tasks {
			err = fmt.Errorf("%d results of %d tasks", n, tasks)
		}
		return err
	})
	if err != nil {
		return err
	}
	s.rows = append(s.rows, row{fmt.Sprintf("no-op tasks, typed (Map) vs untyped (Run), 2 workers x %d slots (n=%d)", s.o.Slots, tasks),
		rate(tasks, tt), rate(tasks, th), fmt.Sprintf("%.0f%%", 100*th.Seconds()/tt.Seconds()), ">= 90%"})
	return nil
}

func rate(n int, d time.Duration) string { return fmt.Sprintf("%.0f/s", float64(n)/d.Seconds()) }

// claimed is a foreman, the workmen processes it claimed workers of, and
// those workers by type.
type claimed struct {
	s        *suite
	f        *foreman.Foreman
	children []*child
	ws       map[string][]*foreman.Workman
}

func (c *claimed) close() {
	if c.f != nil {
		c.f.Close()
	}
	c.s.stopChildren(c.children)
}

// foremanOf starts a workmen process of each type (n workmen of Slots
// capacity) and claims them all on one foreman.
func (s *suite) foremanOf(ctx context.Context, types map[string]int) (*claimed, error) {
	c := &claimed{s: s, ws: map[string][]*foreman.Workman{}}
	for typ, n := range types {
		wk, err := s.child(ctx, "-role", "workmen", "-park", s.park.url, "-type", typ, "-n", strconv.Itoa(n), "-capacity", strconv.Itoa(s.o.Slots))
		if err != nil {
			c.close()
			return nil, err
		}
		c.children = append(c.children, wk)
	}
	var err error
	if c.f, err = foreman.Dial(ctx, s.park.url, foremanConfig()); err != nil {
		c.close()
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for typ, n := range types {
		ws, err := c.f.WaitWorkers(wctx, typ, n)
		if err == nil && len(ws) < n {
			err = fmt.Errorf("got %d of %d %s workers", len(ws), n, typ)
		}
		if err != nil {
			c.close()
			return nil, err
		}
		c.ws[typ] = ws
	}
	return c, nil
}
