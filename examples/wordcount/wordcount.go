// Package wordcount is the framework's reference job: count the words of
// text files across workers.
//
// A word is a maximal run of non-whitespace, as bytes.Fields splits text,
// case-sensitive. The Splitter cuts each file into newline-aligned ranges
// (TextFiles: the worker reads its range in place; with Ship, the range's
// bytes travel in the task), each worker counts its ranges, and the
// Combiner sums the counts. The result is exactly a single-threaded count.
package wordcount

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of word-count workmen.
const Type = "wordcount"

// Result keys. A task's result carries its words and their counts as two
// parallel lists (KeyWords, KeyWordCounts): cheaper to build, encode and
// decode than a map. The Combiner folds them into one map under KeyCounts.
const (
	KeyWords      = "words"  // []string
	KeyWordCounts = "wcount" // []int64, one per word
	KeyCounts     = "counts" // map[string]int64: the combined result
)

// DefaultPartSize is the size of one task's range: 8 MiB.
const DefaultPartSize = 8 << 20

// Worker returns the word-count Worker: it counts the words of a text task
// (splitter.OpenRange) and returns them under KeyWords and KeyWordCounts.
func Worker() workman.Worker {
	// The vocabulary of the last task sizes the next task's counter: the
	// ranges of one text have similar vocabularies, and a map built at its
	// final size is not rehashed as it grows.
	var lastDistinct atomic.Int64
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		r, err := splitter.OpenRange(ctx, in)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		c := NewCounterSize(int(lastDistinct.Load()))
		if err := c.Read(r); err != nil {
			return nil, fmt.Errorf("wordcount: %w", err)
		}
		lastDistinct.Store(int64(c.Distinct()))
		out := warehouse.New()
		out.SetStrings(KeyWords, c.words)
		out.SetInt64s(KeyWordCounts, c.counts)
		return out, nil
	})
}

// Splitter splits the files into tasks of about partSize bytes; ship puts
// the bytes in the tasks.
func Splitter(paths []string, partSize int64, ship bool) splitter.Splitter {
	if ship {
		return splitter.ShippedTextFiles(paths, partSize)
	}
	return splitter.TextFiles(paths, partSize)
}

// Combiner sums the tasks' counts into a map under KeyCounts.
func Combiner() combiner.Combiner {
	return combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		words, ok1 := r.Strings(KeyWords)
		counts, ok2 := r.Int64s(KeyWordCounts)
		if !ok1 || !ok2 || len(words) != len(counts) {
			return nil, fmt.Errorf("wordcount: a result without %d words and as many counts", len(words))
		}
		total, ok := acc.Counts(KeyCounts)
		if !ok {
			total = make(map[string]int64, 2*len(words))
			acc.SetCounts(KeyCounts, total)
		}
		for i, w := range words {
			total[w] += counts[i]
		}
		return acc, nil
	})
}

// CountLocal counts the words of the files on one goroutine with
// bytes.Fields: the reference the distributed count must equal.
func CountLocal(paths ...string) (map[string]int64, error) {
	counts := make(map[string]int64)
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, w := range bytes.Fields(data) {
			counts[string(w)]++
		}
	}
	return counts, nil
}

// Entry is one line of the output.
type Entry struct {
	Word  string
	Count int64
}

// Sorted returns the counts by count descending, then word ascending.
func Sorted(counts map[string]int64) []Entry {
	es := make([]Entry, 0, len(counts))
	for w, n := range counts {
		es = append(es, Entry{w, n})
	}
	slices.SortFunc(es, func(a, b Entry) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Word, b.Word)
	})
	return es
}

// Write prints "count<TAB>word" lines, the top ones only if top > 0.
func Write(w io.Writer, counts map[string]int64, top int) error {
	es := Sorted(counts)
	if top > 0 && top < len(es) {
		es = es[:top]
	}
	bw := bufio.NewWriter(w)
	for _, e := range es {
		fmt.Fprintf(bw, "%d\t%s\n", e.Count, e.Word)
	}
	return bw.Flush()
}
