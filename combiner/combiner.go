// Package combiner merges task results into one Warehouse.
//
// A Combiner folds results one at a time, as they arrive and in any order:
// Combine(acc, result) returns the new accumulator. The foreman calls it
// from one goroutine, starting from an empty Warehouse. Ready-made
// combiners sum count maps and integers and concatenate lists.
package combiner

import (
	"fmt"

	"github.com/fourinone-go/fourinone/warehouse"
)

// Combiner folds a result into the accumulator and returns the new one
// (which may be acc itself, changed in place).
type Combiner interface {
	Combine(acc, result *warehouse.Warehouse) (*warehouse.Warehouse, error)
}

// Func adapts a function to a Combiner.
type Func func(acc, result *warehouse.Warehouse) (*warehouse.Warehouse, error)

// Combine calls f.
func (f Func) Combine(acc, result *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	return f(acc, result)
}

// SumCounts sums the map[string]int64 values under key. A result without
// the key adds nothing; a value of another type is an error.
func SumCounts(key string) Combiner {
	return Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		if !r.Has(key) {
			return acc, nil
		}
		c, ok := r.Counts(key)
		if !ok {
			return nil, typeError(r, key, "map[string]int64")
		}
		total, ok := acc.Counts(key)
		if !ok {
			// Adopt the first map rather than copying it.
			acc.SetCounts(key, c)
			return acc, nil
		}
		if len(c) > len(total) { // add the smaller map into the larger
			total, c = c, total
			acc.SetCounts(key, total)
		}
		for w, n := range c {
			total[w] += n
		}
		return acc, nil
	})
}

// SumInt64 sums the int64 values under key.
func SumInt64(key string) Combiner {
	return Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		if !r.Has(key) {
			return acc, nil
		}
		n, ok := r.Int64(key)
		if !ok {
			return nil, typeError(r, key, "int64")
		}
		total, _ := acc.Int64(key)
		acc.SetInt64(key, total+n)
		return acc, nil
	})
}

// Concat appends the []string, []int64, []float64 or []byte values under
// key, in the order results arrive (which is not task order).
func Concat(key string) Combiner {
	return Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		v, ok := r.Get(key)
		if !ok {
			return acc, nil
		}
		prev, had := acc.Get(key)
		switch x := v.(type) {
		case []string:
			p, ok := prev.([]string)
			if had && !ok {
				return nil, typeError(acc, key, "[]string")
			}
			acc.SetStrings(key, append(p, x...))
		case []int64:
			p, ok := prev.([]int64)
			if had && !ok {
				return nil, typeError(acc, key, "[]int64")
			}
			acc.SetInt64s(key, append(p, x...))
		case []float64:
			p, ok := prev.([]float64)
			if had && !ok {
				return nil, typeError(acc, key, "[]float64")
			}
			acc.SetFloat64s(key, append(p, x...))
		case []byte:
			p, ok := prev.([]byte)
			if had && !ok {
				return nil, typeError(acc, key, "[]byte")
			}
			acc.SetBytes(key, append(p, x...))
		default:
			return nil, typeError(r, key, "[]string, []int64, []float64 or []byte")
		}
		return acc, nil
	})
}

// Chain applies each combiner in turn.
func Chain(cs ...Combiner) Combiner {
	return Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		var err error
		for _, c := range cs {
			if acc, err = c.Combine(acc, r); err != nil {
				return nil, err
			}
		}
		return acc, nil
	})
}

func typeError(w *warehouse.Warehouse, key, want string) error {
	v, _ := w.Get(key)
	return fmt.Errorf("combiner: key %q holds %T, want %s", key, v, want)
}
