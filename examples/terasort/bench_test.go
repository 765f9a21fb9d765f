package terasort

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/fourinone-go/fourinone/examples/internal/team"
)

var benchRecords = flag.Int64("records", 1_000_000, "records (100 bytes each) for BenchmarkSort")

// BenchmarkSort compares, in one run on one file, the sort in this process
// on one goroutine (read, Sort, write) with the sort on an embedded
// cluster of two workers (sample, shuffle, sort, write the parts).
func BenchmarkSort(b *testing.B) {
	dir := b.TempDir()
	in := filepath.Join(dir, "in.dat")
	f, err := os.Create(in)
	if err != nil {
		b.Fatal(err)
	}
	if err := Generate(f, *benchRecords, 42); err != nil {
		b.Fatal(err)
	}
	// On disk before the first run: writing it back would slow that run.
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.Run("one-goroutine", func(b *testing.B) {
		b.SetBytes(*benchRecords * RecordSize)
		for b.Loop() {
			if err := Local(in, filepath.Join(dir, "local.dat")); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("2-workers", func(b *testing.B) {
		b.SetBytes(*benchRecords * RecordSize)
		for b.Loop() {
			parts, err := Run(context.Background(), team.Options{}, 2, in, filepath.Join(dir, "out"))
			if err != nil || len(parts) != 2 {
				b.Fatal(parts, err)
			}
		}
	})
}
