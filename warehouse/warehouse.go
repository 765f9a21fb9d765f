// Package warehouse is the key/value bag that carries a task into a worker and
// a result out of it, after Fourinone's WareHouse.
//
// A Warehouse maps string keys to values of a small closed set of types
// (string, []byte, int64, float64, bool, []string, []int64, []float64,
// map[string]int64 and map[string]float64), each with a typed setter and
// getter. A result Warehouse
// also carries a Status: StatusReady, or StatusException with the message of
// the error or panic that produced it.
//
// Warehouses have a compact binary encoding (AppendBinary, Decode) that the
// framework uses on the wire. Decode never panics: malformed bytes give an
// error wrapping ErrMalformed.
//
// This package depends on the standard library only.
package warehouse

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// DefaultMaxSize is the largest encoded Warehouse the framework sends or
// accepts unless configured otherwise: 64 MiB.
const DefaultMaxSize = 64 << 20

var (
	// ErrMalformed is wrapped by every Decode error.
	ErrMalformed = errors.New("warehouse: malformed encoding")
	// ErrTooLarge is wrapped by a *SizeError.
	ErrTooLarge = errors.New("warehouse: too large")
)

// SizeError reports a Warehouse whose encoding exceeds a size limit. It wraps
// ErrTooLarge.
type SizeError struct {
	Size  int64 // encoded size in bytes, or the size seen so far
	Limit int64 // the limit in bytes
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("warehouse: encoded size %d bytes exceeds the limit of %d bytes", e.Size, e.Limit)
}

// Unwrap returns ErrTooLarge.
func (e *SizeError) Unwrap() error { return ErrTooLarge }

// Status is the state of a result Warehouse.
type Status uint8

const (
	// StatusReady marks a normal Warehouse; it is the zero value.
	StatusReady Status = iota
	// StatusException marks the result of a task that returned an error or
	// panicked; Message holds the text.
	StatusException
)

func (s Status) String() string {
	switch s {
	case StatusReady:
		return "ready"
	case StatusException:
		return "exception"
	default:
		return fmt.Sprintf("status(%d)", uint8(s))
	}
}

// Warehouse is a bag of typed values under string keys. The zero value is an
// empty, ready Warehouse. A Warehouse is not safe for concurrent use; like a
// map, guard it if goroutines share it.
type Warehouse struct {
	status  Status
	message string
	m       map[string]any // values are of the types listed in the package comment
}

// New returns an empty Warehouse.
func New() *Warehouse { return &Warehouse{} }

// NewException returns an empty Warehouse with StatusException and msg.
func NewException(msg string) *Warehouse {
	return &Warehouse{status: StatusException, message: msg}
}

// Status returns the Warehouse's status.
func (w *Warehouse) Status() Status { return w.status }

// Message returns the exception message; it is empty for a ready Warehouse.
func (w *Warehouse) Message() string { return w.message }

// SetException marks w as an exception with msg.
func (w *Warehouse) SetException(msg string) {
	w.status = StatusException
	w.message = msg
}

// Len returns the number of keys.
func (w *Warehouse) Len() int { return len(w.m) }

// Keys returns the keys in ascending order.
func (w *Warehouse) Keys() []string { return slices.Sorted(maps.Keys(w.m)) }

// Has reports whether key is present.
func (w *Warehouse) Has(key string) bool { _, ok := w.m[key]; return ok }

// Get returns the value under key as stored, or nil and false.
func (w *Warehouse) Get(key string) (any, bool) { v, ok := w.m[key]; return v, ok }

// Delete removes key.
func (w *Warehouse) Delete(key string) { delete(w.m, key) }

// Put stores v under key. v must be one of the supported types (or int, which
// is stored as int64); otherwise Put returns an error and w is unchanged.
func (w *Warehouse) Put(key string, v any) error {
	switch x := v.(type) {
	case string, []byte, int64, float64, bool, []string, []int64, []float64, map[string]int64, map[string]float64:
		w.set(key, v)
	case int:
		w.set(key, int64(x))
	default:
		return fmt.Errorf("warehouse: unsupported value type %T for key %q", v, key)
	}
	return nil
}

func (w *Warehouse) set(key string, v any) {
	if w.m == nil {
		w.m = make(map[string]any)
	}
	w.m[key] = v
}

// SetString stores a string.
func (w *Warehouse) SetString(key, v string) { w.set(key, v) }

// SetBytes stores a byte slice; w keeps v, not a copy.
func (w *Warehouse) SetBytes(key string, v []byte) { w.set(key, v) }

// SetInt64 stores an int64.
func (w *Warehouse) SetInt64(key string, v int64) { w.set(key, v) }

// SetFloat64 stores a float64.
func (w *Warehouse) SetFloat64(key string, v float64) { w.set(key, v) }

// SetBool stores a bool.
func (w *Warehouse) SetBool(key string, v bool) { w.set(key, v) }

// SetStrings stores a string slice; w keeps v, not a copy.
func (w *Warehouse) SetStrings(key string, v []string) { w.set(key, v) }

// SetInt64s stores an int64 slice; w keeps v, not a copy.
func (w *Warehouse) SetInt64s(key string, v []int64) { w.set(key, v) }

// SetFloat64s stores a float64 slice (a vector); w keeps v, not a copy.
func (w *Warehouse) SetFloat64s(key string, v []float64) { w.set(key, v) }

// SetCounts stores a map of counts; w keeps v, not a copy.
func (w *Warehouse) SetCounts(key string, v map[string]int64) { w.set(key, v) }

// SetFloat64Map stores a map of float64s (named weights, say); w keeps v,
// not a copy.
func (w *Warehouse) SetFloat64Map(key string, v map[string]float64) { w.set(key, v) }

func get[T any](w *Warehouse, key string) (T, bool) {
	v, ok := w.m[key].(T)
	return v, ok
}

// String returns the string under key; ok is false if it is absent or of
// another type.
func (w *Warehouse) String(key string) (v string, ok bool) { return get[string](w, key) }

// Bytes returns the byte slice under key.
func (w *Warehouse) Bytes(key string) (v []byte, ok bool) { return get[[]byte](w, key) }

// Int64 returns the int64 under key.
func (w *Warehouse) Int64(key string) (v int64, ok bool) { return get[int64](w, key) }

// Float64 returns the float64 under key.
func (w *Warehouse) Float64(key string) (v float64, ok bool) { return get[float64](w, key) }

// Bool returns the bool under key.
func (w *Warehouse) Bool(key string) (v bool, ok bool) { return get[bool](w, key) }

// Strings returns the string slice under key.
func (w *Warehouse) Strings(key string) (v []string, ok bool) { return get[[]string](w, key) }

// Int64s returns the int64 slice under key.
func (w *Warehouse) Int64s(key string) (v []int64, ok bool) { return get[[]int64](w, key) }

// Float64s returns the float64 slice under key.
func (w *Warehouse) Float64s(key string) (v []float64, ok bool) { return get[[]float64](w, key) }

// Float64Map returns the map of float64s under key.
func (w *Warehouse) Float64Map(key string) (v map[string]float64, ok bool) {
	return get[map[string]float64](w, key)
}

// Counts returns the map of counts under key.
func (w *Warehouse) Counts(key string) (v map[string]int64, ok bool) {
	return get[map[string]int64](w, key)
}

// GoString returns a short description for logs: status, message and keys.
func (w *Warehouse) GoString() string {
	return fmt.Sprintf("warehouse{status: %s, message: %q, keys: %q}", w.status, w.message, w.Keys())
}
