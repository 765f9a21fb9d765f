package foreman_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/workman"
)

// shard is a typed task: a range of numbers to summarize from a start time.
type shard struct {
	Lo, Hi int
	Scale  float64
	From   time.Time
}

// summary is a typed result.
type summary struct {
	Lo      int
	Squares []float64
	Sum     int64
	Until   time.Time
}

var summarize = workman.Func(func(ctx context.Context, s shard) (summary, error) {
	if s.Hi < s.Lo {
		return summary{}, fmt.Errorf("empty shard [%d, %d)", s.Lo, s.Hi)
	}
	out := summary{Lo: s.Lo, Until: s.From.Add(time.Duration(s.Hi-s.Lo) * time.Second)}
	for n := s.Lo; n < s.Hi; n++ {
		out.Squares = append(out.Squares, s.Scale*float64(n*n))
		out.Sum += int64(n)
	}
	return out, nil
})

func shards(n int) []shard {
	from := time.Date(2026, 12, 6, 0, 0, 0, 1, time.UTC)
	var ss []shard
	for i := range n {
		ss = append(ss, shard{Lo: 10 * i, Hi: 10*i + i%7, Scale: 0.5, From: from})
	}
	return ss
}

func TestCollect(t *testing.T) {
	for _, mode := range []string{workman.ModeMesh, workman.ModeHub} {
		for _, c := range []codec.Codec{codec.Compact, codec.JSON} {
			t.Run(mode+"/"+c.Name(), func(t *testing.T) {
				cl := parktest.Start(t, 2, workman.Config{Type: "typed", Mode: mode}, summarize)
				f := parktest.NewForeman(t, cl.URL, foreman.Config{})
				ws := parktest.Claim(t, f, "typed", 2)
				in := shards(300)
				var last foreman.Progress
				outs, err := foreman.Collect[shard, summary](context.Background(), f, ws, in,
					foreman.WithCodec(c), foreman.OnProgress(func(p foreman.Progress) { last = p }))
				if err != nil {
					t.Fatal(err)
				}
				if len(outs) != len(in) || last.Total != len(in) || last.Done != len(in) {
					t.Fatalf("%d results, progress %d/%d; want %d", len(outs), last.Done, last.Total, len(in))
				}
				for i, s := range in {
					o := outs[i]
					var sum int64
					for n := s.Lo; n < s.Hi; n++ {
						sum += int64(n)
					}
					if o.Lo != s.Lo || o.Sum != sum || len(o.Squares) != s.Hi-s.Lo || !o.Until.Equal(s.From.Add(time.Duration(s.Hi-s.Lo)*time.Second)) {
						t.Fatalf("result %d is %+v for %+v", i, o, s)
					}
					for j, sq := range o.Squares {
						if n := s.Lo + j; sq != 0.5*float64(n*n) {
							t.Fatalf("result %d square %d = %v, want %v", i, j, sq, 0.5*float64(n*n))
						}
					}
				}
			})
		}
	}
}

func TestMapStopJobAndErrors(t *testing.T) {
	cl := parktest.Start(t, 2, workman.Config{Type: "typed"}, summarize)
	f := parktest.NewForeman(t, cl.URL, foreman.Config{})
	ws := parktest.Claim(t, f, "typed", 2)
	ctx := context.Background()

	// StopJob from fold ends the job, successfully, at that result.
	var folded atomic.Int32
	err := foreman.Map(ctx, f, ws, slices.Values(shards(1000)), func(i int, s summary) error {
		if folded.Add(1) == 5 {
			return foreman.StopJob
		}
		return nil
	})
	if err != nil || folded.Load() != 5 {
		t.Fatalf("Map with StopJob at the 5th result: %v after %d results", err, folded.Load())
	}

	// A worker's error is a TaskError naming the task; with
	// ContinueOnError the others come back in place.
	in := shards(10)
	in[3].Hi, in[7].Hi = -1, -2
	outs, err := foreman.Collect[shard, summary](ctx, f, ws, in, foreman.ContinueOnError())
	var je *foreman.JobError
	if !errors.As(err, &je) || len(je.Failed) != 2 {
		t.Fatalf("error %v, want a JobError of 2 tasks", err)
	}
	failed := []int{je.Failed[0].Task, je.Failed[1].Task}
	slices.Sort(failed)
	if !slices.Equal(failed, []int{3, 7}) || !strings.Contains(je.Failed[0].Msg, "empty shard") {
		t.Fatalf("failed tasks %v (%v), want 3 and 7", failed, err)
	}
	for i, o := range outs {
		if failed := i == 3 || i == 7; failed != o.Until.IsZero() || !failed && o.Lo != in[i].Lo {
			t.Fatalf("result %d is %+v", i, o)
		}
	}

	// An input of the wrong type: the worker says which key and types.
	_, err = foreman.Collect[string, summary](ctx, f, ws, []string{"a", "b"})
	var te *foreman.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("wrong input type: %v, want a TaskError", err)
	}
	for _, want := range []string{fmt.Sprintf("task %d", te.Task), `"value" does not decode into foreman_test.shard`, "the sender encoded a string with compact"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}

	// A result of the wrong type: the foreman says which task.
	_, err = foreman.Collect[shard, string](ctx, f, ws, in[:1])
	if err == nil || !strings.Contains(err.Error(), "result of task 0") || !strings.Contains(err.Error(), "encoded a foreman_test.summary") {
		t.Fatalf("wrong result type: %v", err)
	}

	// Do: one typed task.
	got, err := foreman.Do[shard, summary](ctx, ws[0], shard{Lo: 2, Hi: 4, Scale: 1})
	if err != nil || got.Sum != 5 || !slices.Equal(got.Squares, []float64{4, 9}) {
		t.Fatalf("Do: %+v, %v", got, err)
	}
}
