package wordcount

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var benchSize = flag.Int64("wcsize", 100<<20, "bytes of generated text for BenchmarkWordCount")

// BenchmarkWordCount compares, in one run on one file, the single-threaded
// bytes.Fields count with the framework's count on an embedded cluster of
// two workers (reading ranges in place, and shipping them).
func BenchmarkWordCount(b *testing.B) {
	path := filepath.Join(b.TempDir(), "text.txt")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := Generate(f, *benchSize, 42); err != nil {
		b.Fatal(err)
	}
	f.Close()
	want, err := CountLocal(path)
	if err != nil {
		b.Fatal(err)
	}
	check := func(b *testing.B, got map[string]int64) {
		if len(got) != len(want) {
			b.Fatalf("%d distinct words, want %d", len(got), len(want))
		}
	}
	b.Run("single-threaded-bytes.Fields", func(b *testing.B) {
		b.SetBytes(*benchSize)
		for b.Loop() {
			got, err := CountLocal(path)
			if err != nil {
				b.Fatal(err)
			}
			check(b, got)
		}
	})
	// The workers' own counter on one goroutine: separates the algorithm's
	// gain from the parallel one.
	b.Run("single-threaded-Counter", func(b *testing.B) {
		b.SetBytes(*benchSize)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			c := NewCounter()
			if err := c.Read(f); err != nil {
				b.Fatal(err)
			}
			f.Close()
			check(b, c.Counts())
		}
	})
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"2-workers", Options{Workers: 2}},
		{"2-workers-ship", Options{Workers: 2, Ship: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(*benchSize)
			for b.Loop() {
				got, err := Count(context.Background(), tc.o, path)
				if err != nil {
					b.Fatal(err)
				}
				check(b, got)
			}
		})
	}
}
