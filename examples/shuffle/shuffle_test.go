package shuffle

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func text(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "text.txt")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := wordcount.Generate(f, size, 3); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestShuffleEqualsWordCount: three workers of capacity 1 (each one's only
// slot held by its DoTask while it waits for its peers' partitions, where
// a shuffle through DoTask would deadlock) count exactly what one
// goroutine counts, and each returns only the words it owns.
func TestShuffleEqualsWordCount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := text(t, 3<<20)
	want, err := wordcount.CountLocal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Count(ctx, team.Options{Capacity: 1}, 3, 256<<10, p)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("the shuffle counted %d words, one goroutine %d, not all alike", len(got), len(want))
	}
}

// TestBadPartitions: a partition without its parts, a second one from the
// same sender, and a task without a team are refused.
func TestBadPartitions(t *testing.T) {
	w := NewWorker()
	ctx := context.Background()
	part := func(from int64) *warehouse.Warehouse {
		p := warehouse.New()
		p.SetString(KeyJob, "j")
		p.SetInt64(KeyFrom, from)
		p.SetStrings(wordcount.KeyWords, []string{"a"})
		p.SetInt64s(wordcount.KeyWordCounts, []int64{1})
		return p
	}
	if err := w.Receive(ctx, workman.Peer{}, warehouse.New()); err == nil {
		t.Error("an empty partition: no error")
	}
	if err := w.Receive(ctx, workman.Peer{}, part(1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Receive(ctx, workman.Peer{}, part(1)); err == nil {
		t.Error("a second partition from one sender: no error")
	}
	if _, err := w.DoTask(ctx, warehouse.New()); err == nil {
		t.Error("a task without a team: no error")
	}
	if _, err := Merge([]*warehouse.Warehouse{part(0), part(0)}, 2); err == nil {
		t.Error("a word from a worker that does not own it: no error")
	}
}
