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
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"strconv"

	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of factoring workmen.
const Type = "factors"

// Range is a task: the numbers [Lo, Hi).
type Range struct{ Lo, Hi int64 }

// Number is a number with its factors, ascending: a task's result is a
// []Number, and a line of the output one Number.
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

// Worker returns the factoring Worker: a task is a Range, its result the
// Range's numbers with their factors.
func Worker() workman.Worker {
	return workman.Func(func(ctx context.Context, r Range) ([]Number, error) {
		if r.Lo < 1 || r.Hi < r.Lo || r.Hi-r.Lo > MaxTask {
			return nil, fmt.Errorf("factors: a task needs a range [lo, hi) of 1 to %d positive integers, not [%d, %d)", MaxTask, r.Lo, r.Hi)
		}
		out := make([]Number, 0, r.Hi-r.Lo)
		for n := r.Lo; n < r.Hi; n++ {
			f, err := Factors(ctx, n)
			if err != nil {
				return nil, err
			}
			out = append(out, Number{N: n, Factors: f})
		}
		return out, nil
	})
}

// MaxTask bounds the numbers of one task.
const MaxTask = 1 << 20

// Ranges splits [from, to) into Ranges of step numbers.
func Ranges(from, to, step int64) iter.Seq[Range] {
	return func(yield func(Range) bool) {
		for lo := from; lo < to; lo += step {
			if !yield(Range{lo, min(lo+step, to)}) {
				return
			}
		}
	}
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
