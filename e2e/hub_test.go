package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

// TestHubBigResults: five hub workers return 60 MiB results at once
// through the park; the foreman's link is never cut as a slow consumer, so
// the job finishes exactly with no park waits.
func TestHubBigResults(t *testing.T) {
	// A lease of 10 s: in hub mode a workman's heartbeats share its park
	// connection with its 60 MiB results, and on a busy 2-core machine
	// (this test under -race beside the others) five of them queued behind
	// 300 MB outlived the default 3 s lease, and the foreman took every
	// worker for lost.
	url := startPark(t, "-lease", "10s")
	chaosWorkmen(t, url, 5, "-type", "echo", "-mode", "hub", "-capacity", "1")
	f, ws := dialForeman(t, url, 5, "echo")
	tasks := splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		return splitter.IntRange(0, 10, 1).Split(ctx, func(w *warehouse.Warehouse) error {
			w.SetInt64("blob_bytes", 60<<20)
			return emit(w)
		})
	})
	var bytes int64
	seen := map[int64]int{}
	count := combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		b, _ := r.Bytes("blob")
		lo, _ := r.Int64("lo")
		bytes += int64(len(b))
		seen[lo]++
		return acc, nil
	})
	// A safety net, not a measure: 600 MB through the park takes 6 s
	// alone, 25 s under -race, more with the rest of the suite beside it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var st foreman.RunStats
	start := time.Now()
	if _, err := f.Run(ctx, ws, tasks, count, foreman.Stats(&st)); err != nil {
		t.Fatalf("%v (stats %+v)", err, st)
	}
	for lo := range int64(10) {
		if seen[lo] != 1 {
			t.Fatalf("task %d combined %d times, want once", lo, seen[lo])
		}
	}
	if bytes != 10*60<<20 {
		t.Fatalf("%d bytes of results, want %d", bytes, 10*60<<20)
	}
	if st.ParkWaits != 0 {
		t.Fatalf("stats %+v: park waits with no park outage", st)
	}
	t.Logf("10 results of 60 MiB through the park in %v: %+v", time.Since(start).Round(time.Millisecond), st)
}
