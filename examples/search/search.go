// Package search finds a proof-of-work nonce across workers: the least
// n for which SHA-256(prefix + decimal n) starts with a given number of
// zero bits (seed 000's problem with an unknown number of tasks). The
// tasks, ranges of nonces, are made lazily without end (splitter.Seq);
// the job stops at the hit, cancelling every running task on its worker.
package search

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"strconv"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of searching workmen.
const Type = "search"

// Keys of tasks and results.
const (
	KeyPrefix = "prefix" // string
	KeyBits   = "bits"   // int64: leading zero bits wanted
	KeyNonce  = "nonce"  // int64: a result's hit, if any
	KeyHashes = "hashes" // int64: hashes a result tried
)

// MaxBits bounds the zero bits asked for (and MaxPrefix the prefix):
// 64 bits is 2^64 hashes on average, beyond any search.
const (
	MaxBits   = 64
	MaxPrefix = 1 << 10
)

// Hit reports whether SHA-256(prefix + decimal n) starts with bits zero
// bits; buf is scratch space.
func Hit(buf []byte, prefix string, n int64, bits int) ([]byte, bool) {
	buf = strconv.AppendInt(append(buf[:0], prefix...), n, 10)
	sum := sha256.Sum256(buf)
	return buf, binary.BigEndian.Uint64(sum[:8])>>(64-bits) == 0
}

// Scan tries the nonces [lo, hi) in order and returns the first hit (or
// -1) and the hashes tried. It checks ctx every 4,096 hashes.
func Scan(ctx context.Context, prefix string, bits int, lo, hi int64) (nonce, hashes int64, err error) {
	buf := make([]byte, 0, len(prefix)+20)
	for n := lo; n < hi; n++ {
		if (n-lo)&4095 == 0 && ctx.Err() != nil {
			return -1, n - lo, ctx.Err()
		}
		var hit bool
		if buf, hit = Hit(buf, prefix, n, bits); hit {
			return n, n - lo + 1, nil
		}
	}
	return -1, hi - lo, nil
}

func check(prefix string, bits int) error {
	if bits < 1 || bits > MaxBits || len(prefix) > MaxPrefix {
		return fmt.Errorf("search: %d bits of a prefix of %d bytes: want 1 to %d bits, at most %d bytes", bits, len(prefix), MaxBits, MaxPrefix)
	}
	return nil
}

// Worker returns the searching Worker: a task is a prefix, bits and a
// range of nonces [splitter.KeyLo, splitter.KeyHi).
func Worker() workman.Worker {
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		prefix, ok1 := in.String(KeyPrefix)
		bits, ok2 := in.Int64(KeyBits)
		lo, ok3 := in.Int64(splitter.KeyLo)
		hi, ok4 := in.Int64(splitter.KeyHi)
		if !(ok1 && ok2 && ok3 && ok4) || lo < 0 || hi < lo {
			return nil, fmt.Errorf("search: a task needs %s, %s and a range of nonces", KeyPrefix, KeyBits)
		}
		if err := check(prefix, int(bits)); err != nil {
			return nil, err
		}
		nonce, hashes, err := Scan(ctx, prefix, int(bits), lo, hi)
		if err != nil {
			return nil, err
		}
		out := warehouse.New()
		out.SetInt64(splitter.KeyLo, lo)
		out.SetInt64(KeyNonce, nonce)
		out.SetInt64(KeyHashes, hashes)
		return out, nil
	})
}

// Tasks yields ranges of step nonces from 0, without end (to the largest
// int64).
func Tasks(prefix string, bits int, step int64) iter.Seq[*warehouse.Warehouse] {
	return func(yield func(*warehouse.Warehouse) bool) {
		for lo := int64(0); lo < math.MaxInt64; {
			hi := lo + min(step, math.MaxInt64-lo)
			t := warehouse.New()
			t.SetString(KeyPrefix, prefix)
			t.SetInt64(KeyBits, int64(bits))
			t.SetInt64(splitter.KeyLo, lo)
			t.SetInt64(splitter.KeyHi, hi)
			if !yield(t) {
				return
			}
			lo = hi
		}
	}
}

// Found is where a search stands: the least hit so far and the ranges
// done. The least hit is final once every range below it is done.
type Found struct {
	Nonce  int64 // the least hit so far, or -1
	Hashes int64 // hashes tried by the tasks done
	Tasks  int   // tasks done

	step int64
	next int64              // the ranges below next*step are all done
	done map[int64]struct{} // the ranges done from next*step on, by first nonce
}

// NewFound returns the state of a search in ranges of step nonces.
func NewFound(step int64) *Found {
	return &Found{Nonce: -1, step: step, done: make(map[int64]struct{})}
}

// Combiner folds each result into f (the Warehouse it returns is unused).
func (f *Found) Combiner() combiner.Combiner {
	return combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		lo, ok1 := r.Int64(splitter.KeyLo)
		nonce, ok2 := r.Int64(KeyNonce)
		hashes, ok3 := r.Int64(KeyHashes)
		if !(ok1 && ok2 && ok3) || lo < 0 || lo%f.step != 0 || (nonce != -1 && (nonce < lo || nonce-lo >= f.step)) {
			return nil, fmt.Errorf("search: a result without a range of %d nonces, a nonce in it (or -1) and its hashes", f.step)
		}
		f.Tasks++
		f.Hashes += hashes
		if nonce >= 0 && (f.Nonce < 0 || nonce < f.Nonce) {
			f.Nonce = nonce
		}
		f.done[lo] = struct{}{}
		for {
			if _, ok := f.done[f.next*f.step]; !ok {
				break
			}
			delete(f.done, f.next*f.step)
			f.next++
		}
		return acc, nil
	})
}

// Final reports whether the least hit so far is the least of all: every
// range below it is done. StopWhen ends the job then.
func (f *Found) Final(*warehouse.Warehouse) bool {
	return f.Nonce >= 0 && f.next*f.step > f.Nonce
}

// Local scans from 0 on one goroutine to the first hit: the reference.
func Local(ctx context.Context, prefix string, bits int) (nonce, hashes int64, err error) {
	if err := check(prefix, bits); err != nil {
		return -1, 0, err
	}
	return Scan(ctx, prefix, bits, 0, math.MaxInt64)
}
