// Package factors finds the factors of every integer in a range across
// workers: seed 002's problem, chosen there because a number's time is
// unpredictable.
//
// The factors of n are the integers x with 2 <= x <= n/2 that divide n (the
// seed's factors_of). Factors finds them from n's prime factorization by
// trial division, so a number's time follows the size of its second
// largest prime factor: microseconds for most numbers, sqrt(n) divisions
// for a prime. Tasks of equal ranges take unequal times, which the
// foreman's backups and free-slot scheduling are for.
package factors

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of factoring workmen.
const Type = "factors"

// Result keys: a task's numbers, how many factors each has, and all their
// factors one number after another (three parallel []int64).
const (
	KeyNumbers = "numbers"
	KeyCounts  = "counts"
	KeyFactors = "factors"
)

// Number is one line of the output: n and its factors, ascending.
type Number struct {
	N       int64
	Factors []int64
}

// Factors returns the integers x with 2 <= x <= n/2 that divide n,
// ascending; none for n < 4. It checks ctx every so often (a prime near
// 10^18 takes a billion divisions) and returns ctx.Err() if it ends.
func Factors(ctx context.Context, n int64) ([]int64, error) {
	if n < 1 {
		return nil, fmt.Errorf("factors: %d is not a positive integer", n)
	}
	// The prime factorization, by trial division.
	type power struct{ p, k int64 }
	var ps []power
	m := n
	for d := int64(2); d <= m/d; {
		if m%d == 0 {
			k := int64(0)
			for m%d == 0 {
				m /= d
				k++
			}
			ps = append(ps, power{d, k})
		}
		if d == 2 {
			d = 3
		} else {
			d += 2
		}
		if d&(1<<20-1) == 1 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if m > 1 {
		ps = append(ps, power{m, 1})
	}
	// Every divisor, as products of the prime powers.
	divs := []int64{1}
	for _, pk := range ps {
		l := len(divs)
		q := int64(1)
		for range pk.k {
			q *= pk.p
			for _, d := range divs[:l] {
				divs = append(divs, d*q)
			}
		}
	}
	slices.Sort(divs)
	// Less 1 and n itself: what remains is 2..n/2.
	if len(divs) <= 2 {
		return nil, nil
	}
	return divs[1 : len(divs)-1], nil
}

// Worker returns the factoring Worker: for a task's range [KeyLo, KeyHi)
// it returns the numbers, their counts of factors and the factors.
func Worker() workman.Worker {
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		lo, ok1 := in.Int64(splitter.KeyLo)
		hi, ok2 := in.Int64(splitter.KeyHi)
		if !ok1 || !ok2 || lo < 1 || hi < lo || hi-lo > MaxTask {
			return nil, fmt.Errorf("factors: a task needs a range [%s, %s) of 1 to %d positive integers", splitter.KeyLo, splitter.KeyHi, MaxTask)
		}
		ns := make([]int64, 0, hi-lo)
		counts := make([]int64, 0, hi-lo)
		var fs []int64
		for n := lo; n < hi; n++ {
			f, err := Factors(ctx, n)
			if err != nil {
				return nil, err
			}
			ns = append(ns, n)
			counts = append(counts, int64(len(f)))
			fs = append(fs, f...)
		}
		out := warehouse.New()
		out.SetInt64s(KeyNumbers, ns)
		out.SetInt64s(KeyCounts, counts)
		out.SetInt64s(KeyFactors, fs)
		return out, nil
	})
}

// MaxTask bounds the numbers of one task.
const MaxTask = 1 << 20

// Splitter splits [from, to) into tasks of step numbers.
func Splitter(from, to, step int64) splitter.Splitter { return splitter.IntRange(from, to, step) }

// Combiner gathers the tasks' results, in the order they arrive; Numbers
// puts them in order.
func Combiner() combiner.Combiner {
	return combiner.Chain(combiner.Concat(KeyNumbers), combiner.Concat(KeyCounts), combiner.Concat(KeyFactors))
}

// Numbers returns the numbers of a combined result with their factors, in
// order of n.
func Numbers(acc *warehouse.Warehouse) ([]Number, error) {
	ns, _ := acc.Int64s(KeyNumbers)
	counts, _ := acc.Int64s(KeyCounts)
	fs, _ := acc.Int64s(KeyFactors)
	if len(ns) != len(counts) {
		return nil, fmt.Errorf("factors: %d numbers with %d counts of factors", len(ns), len(counts))
	}
	out := make([]Number, len(ns))
	at := int64(0)
	for i, n := range ns {
		c := counts[i]
		if c < 0 || c > int64(len(fs))-at {
			return nil, fmt.Errorf("factors: %d factors of %d past the %d sent", c, n, len(fs))
		}
		out[i] = Number{N: n, Factors: fs[at : at+c : at+c]}
		at += c
	}
	if at != int64(len(fs)) {
		return nil, fmt.Errorf("factors: %d factors more than the counts say", int64(len(fs))-at)
	}
	slices.SortFunc(out, func(a, b Number) int { return cmp.Compare(a.N, b.N) })
	return out, nil
}

// Local factors [from, to) on one goroutine: the reference the
// distributed run must equal.
func Local(ctx context.Context, from, to int64) ([]Number, error) {
	var out []Number
	for n := from; n < to; n++ {
		f, err := Factors(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, Number{N: n, Factors: f})
	}
	return out, nil
}

// Write prints "n: f1 f2 ..." lines.
func Write(w io.Writer, ns []Number) error {
	bw := bufio.NewWriter(w)
	var b []byte
	for _, n := range ns {
		b = strconv.AppendInt(b[:0], n.N, 10)
		b = append(b, ':')
		for _, f := range n.Factors {
			b = append(b, ' ')
			b = strconv.AppendInt(b, f, 10)
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}
