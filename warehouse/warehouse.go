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
	"math"
	"slices"
	"unsafe"
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
	// e holds the entries in the order they were first set; its first
	// backing array is inline, so a Warehouse of a task (a value and its
	// codec, or IntRange's lo and hi) is one allocation, its values unboxed.
	e      []entry
	idx    map[string]int // key → index in e, once e has more than indexAt
	inline [2]entry
}

// indexAt is the number of entries found by a scan rather than an index.
const indexAt = 8

// entry is one key's value, held by kind: a number unboxed; a string or a
// byte slice as its data and length (so neither is boxed into an
// interface, which would cost an allocation each); the other slices and
// the maps in x.
type entry struct {
	key  string
	kind byte           // kindString ... kindFloat64Map
	num  uint64         // an int64, a float64's bits, a bool, or the length of p's data
	p    unsafe.Pointer // a string's or a byte slice's data
	x    any            // []string, []int64, []float64, map[string]int64 or map[string]float64
}

func (e *entry) str() string { return unsafe.String((*byte)(e.p), e.num) }

// bytes returns the byte slice, its capacity cut to its length.
func (e *entry) bytes() []byte { return unsafe.Slice((*byte)(e.p), e.num) }

// value returns e's value as Put takes it.
func (e *entry) value() any {
	switch e.kind {
	case kindString:
		return e.str()
	case kindBytes:
		return e.bytes()
	case kindInt64:
		return int64(e.num)
	case kindFloat64:
		return math.Float64frombits(e.num)
	case kindBool:
		return e.num != 0
	}
	return e.x
}

func stringEntry(key, v string) entry {
	return entry{key: key, kind: kindString, num: uint64(len(v)), p: unsafe.Pointer(unsafe.StringData(v))}
}

func bytesEntry(key string, v []byte) entry {
	return entry{key: key, kind: kindBytes, num: uint64(len(v)), p: unsafe.Pointer(unsafe.SliceData(v))}
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
func (w *Warehouse) Len() int { return len(w.e) }

// Keys returns the keys in ascending order.
func (w *Warehouse) Keys() []string {
	keys := make([]string, len(w.e))
	for i := range w.e {
		keys[i] = w.e[i].key
	}
	slices.Sort(keys)
	return keys
}

// find returns the index of key's entry, or -1.
func (w *Warehouse) find(key string) int {
	if w.idx != nil {
		if i, ok := w.idx[key]; ok {
			return i
		}
		return -1
	}
	for i := range w.e {
		if w.e[i].key == key {
			return i
		}
	}
	return -1
}

// lookup returns key's entry if it holds a value of kind k.
func (w *Warehouse) lookup(key string, k byte) *entry {
	if i := w.find(key); i >= 0 && w.e[i].kind == k {
		return &w.e[i]
	}
	return nil
}

// add appends e, whose key is not in w.
func (w *Warehouse) add(e entry) {
	if w.e == nil {
		w.e = w.inline[:0]
	}
	w.e = append(w.e, e)
	switch {
	case w.idx != nil:
		w.idx[e.key] = len(w.e) - 1
	case len(w.e) > indexAt:
		w.idx = make(map[string]int, 2*len(w.e))
		for i := range w.e {
			w.idx[w.e[i].key] = i
		}
	}
}

// set stores e under its key, replacing what was there.
func (w *Warehouse) set(e entry) {
	if i := w.find(e.key); i >= 0 {
		w.e[i] = e
		return
	}
	w.add(e)
}

// Has reports whether key is present.
func (w *Warehouse) Has(key string) bool { return w.find(key) >= 0 }

// Get returns the value under key as stored, or nil and false.
func (w *Warehouse) Get(key string) (any, bool) {
	if i := w.find(key); i >= 0 {
		return w.e[i].value(), true
	}
	return nil, false
}

// Delete removes key.
func (w *Warehouse) Delete(key string) {
	i := w.find(key)
	if i < 0 {
		return
	}
	last := len(w.e) - 1
	w.e[i] = w.e[last] // the last entry takes its place
	w.e[last] = entry{}
	w.e = w.e[:last]
	if w.idx != nil {
		delete(w.idx, key)
		if i < last {
			w.idx[w.e[i].key] = i
		}
	}
}

// Put stores v under key. v must be one of the supported types (or int, which
// is stored as int64); otherwise Put returns an error and w is unchanged.
func (w *Warehouse) Put(key string, v any) error {
	switch x := v.(type) {
	case string:
		w.SetString(key, x)
	case []byte:
		w.SetBytes(key, x)
	case int64:
		w.SetInt64(key, x)
	case int:
		w.SetInt64(key, int64(x))
	case float64:
		w.SetFloat64(key, x)
	case bool:
		w.SetBool(key, x)
	case []string:
		w.set(entry{key: key, kind: kindStrings, x: x})
	case []int64:
		w.set(entry{key: key, kind: kindInt64s, x: x})
	case []float64:
		w.set(entry{key: key, kind: kindFloat64s, x: x})
	case map[string]int64:
		w.set(entry{key: key, kind: kindCounts, x: x})
	case map[string]float64:
		w.set(entry{key: key, kind: kindFloat64Map, x: x})
	default:
		return fmt.Errorf("warehouse: unsupported value type %T for key %q", v, key)
	}
	return nil
}

// SetString stores a string.
func (w *Warehouse) SetString(key, v string) { w.set(stringEntry(key, v)) }

// SetBytes stores a byte slice; w keeps v, not a copy (Bytes returns it
// with its capacity cut to its length).
func (w *Warehouse) SetBytes(key string, v []byte) { w.set(bytesEntry(key, v)) }

// SetInt64 stores an int64.
func (w *Warehouse) SetInt64(key string, v int64) {
	w.set(entry{key: key, kind: kindInt64, num: uint64(v)})
}

// SetFloat64 stores a float64.
func (w *Warehouse) SetFloat64(key string, v float64) {
	w.set(entry{key: key, kind: kindFloat64, num: math.Float64bits(v)})
}

// SetBool stores a bool.
func (w *Warehouse) SetBool(key string, v bool) {
	var n uint64
	if v {
		n = 1
	}
	w.set(entry{key: key, kind: kindBool, num: n})
}

// SetStrings stores a string slice; w keeps v, not a copy.
func (w *Warehouse) SetStrings(key string, v []string) { _ = w.Put(key, v) }

// SetInt64s stores an int64 slice; w keeps v, not a copy.
func (w *Warehouse) SetInt64s(key string, v []int64) { _ = w.Put(key, v) }

// SetFloat64s stores a float64 slice (a vector); w keeps v, not a copy.
func (w *Warehouse) SetFloat64s(key string, v []float64) { _ = w.Put(key, v) }

// SetCounts stores a map of counts; w keeps v, not a copy.
func (w *Warehouse) SetCounts(key string, v map[string]int64) { _ = w.Put(key, v) }

// SetFloat64Map stores a map of float64s (named weights, say); w keeps v,
// not a copy.
func (w *Warehouse) SetFloat64Map(key string, v map[string]float64) { _ = w.Put(key, v) }

// String returns the string under key; ok is false if it is absent or of
// another type.
func (w *Warehouse) String(key string) (v string, ok bool) {
	if e := w.lookup(key, kindString); e != nil {
		return e.str(), true
	}
	return "", false
}

// Bytes returns the byte slice under key.
func (w *Warehouse) Bytes(key string) (v []byte, ok bool) {
	if e := w.lookup(key, kindBytes); e != nil {
		return e.bytes(), true
	}
	return nil, false
}

// Int64 returns the int64 under key.
func (w *Warehouse) Int64(key string) (v int64, ok bool) {
	if e := w.lookup(key, kindInt64); e != nil {
		return int64(e.num), true
	}
	return 0, false
}

// Float64 returns the float64 under key.
func (w *Warehouse) Float64(key string) (v float64, ok bool) {
	if e := w.lookup(key, kindFloat64); e != nil {
		return math.Float64frombits(e.num), true
	}
	return 0, false
}

// Bool returns the bool under key.
func (w *Warehouse) Bool(key string) (v bool, ok bool) {
	if e := w.lookup(key, kindBool); e != nil {
		return e.num != 0, true
	}
	return false, false
}

// boxed returns the value of kind k under key, held in an entry's x.
func boxed[T any](w *Warehouse, key string, k byte) (T, bool) {
	if e := w.lookup(key, k); e != nil {
		return e.x.(T), true
	}
	var zero T
	return zero, false
}

// Strings returns the string slice under key.
func (w *Warehouse) Strings(key string) (v []string, ok bool) {
	return boxed[[]string](w, key, kindStrings)
}

// Int64s returns the int64 slice under key.
func (w *Warehouse) Int64s(key string) (v []int64, ok bool) {
	return boxed[[]int64](w, key, kindInt64s)
}

// Float64s returns the float64 slice under key.
func (w *Warehouse) Float64s(key string) (v []float64, ok bool) {
	return boxed[[]float64](w, key, kindFloat64s)
}

// Float64Map returns the map of float64s under key.
func (w *Warehouse) Float64Map(key string) (v map[string]float64, ok bool) {
	return boxed[map[string]float64](w, key, kindFloat64Map)
}

// Counts returns the map of counts under key.
func (w *Warehouse) Counts(key string) (v map[string]int64, ok bool) {
	return boxed[map[string]int64](w, key, kindCounts)
}

// GoString returns a short description for logs: status, message and keys.
func (w *Warehouse) GoString() string {
	return fmt.Sprintf("warehouse{status: %s, message: %q, keys: %q}", w.status, w.message, w.Keys())
}
