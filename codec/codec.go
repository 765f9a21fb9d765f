// Package codec carries Go values in Warehouses: the encoding under the
// typed API (workman.Func, foreman.Map, jobcenter.Define).
//
// A typed task or result is a Warehouse of two keys: KeyValue, the value's
// bytes, and KeyCodec, the name of the Codec that encoded them followed by
// a space and the Go type of the value the sender encoded (for error
// messages; it may be left out): "compact main.Params". The receiver decodes
// with the codec the Warehouse names, so a job chooses its codec on one
// side only, and programs built separately interoperate as long as their
// types agree field by field (by name).
//
// Compact, the framework's own binary form, is the default: it carries
// structs, slices, maps, times and float vectors in about the bytes the
// values take in memory, at about the cost of filling a Warehouse by hand.
// JSON is there for interop (the exec worker, other languages). Register
// adds another, for instance one for protobuf messages.
package codec

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fourinone-go/fourinone/warehouse"
)

// The keys of a Warehouse that carries a value.
const (
	KeyValue = "value"
	KeyCodec = "codec"
)

// Codec encodes Go values to bytes and back. Unmarshal gets bytes from the
// network: it must not panic on any input and should allocate at most a
// small constant times len(data) (the built-in codecs do; see Value). Both
// must be safe for concurrent use.
type Codec interface {
	// Name identifies the codec on the wire: letters, digits and '-'.
	Name() string
	Marshal(v any) ([]byte, error)
	Unmarshal(data []byte, v any) error
}

// ErrUnknownCodec is wrapped by the error for a Warehouse naming a codec
// that is not registered.
var ErrUnknownCodec = errors.New("codec: unknown codec")

// registry maps names to codecs. It is copied on Register and read
// without a lock: every task's decoding looks its codec up.
var registry atomic.Pointer[map[string]Codec]

// keys caches each codec and type's KeyCodec text.
var keys sync.Map // codecType → the text

type codecType struct {
	codec string
	t     reflect.Type
}

func init() {
	Register(Compact)
	Register(JSON)
}

// Register makes c known by its name to Value, on the receiving side: a
// program that decodes values of a codec other than Compact and JSON
// registers it first. Registering a name again replaces the codec.
func Register(c Codec) {
	regMu.Lock()
	defer regMu.Unlock()
	m := map[string]Codec{}
	if old := registry.Load(); old != nil {
		maps.Copy(m, *old)
	}
	m[c.Name()] = c
	registry.Store(&m)
}

var regMu sync.Mutex // one Register at a time

// Lookup returns the codec registered under name.
func Lookup(name string) (Codec, bool) {
	c, ok := (*registry.Load())[name]
	return c, ok
}

// Default is the codec the typed API uses unless told otherwise: Compact.
var Default Codec = Compact

// Put encodes v with c (Default if nil) into w, under KeyValue, and names
// the codec and v's type under KeyCodec.
func Put[T any](w *warehouse.Warehouse, c Codec, v T) error {
	if c == nil {
		c = Default
	}
	b, err := c.Marshal(v)
	if err != nil {
		return fmt.Errorf("codec: encode %s with %s: %w", typeName[T](), c.Name(), err)
	}
	w.SetBytes(KeyValue, b)
	w.SetString(KeyCodec, codecKey[T](c))
	return nil
}

// New returns a new Warehouse carrying v, encoded with c (Default if nil).
func New[T any](c Codec, v T) (*warehouse.Warehouse, error) {
	w := warehouse.New()
	if err := Put(w, c, v); err != nil {
		return nil, err
	}
	return w, nil
}

// Value decodes the value w carries into a T, with the codec w names. An
// error says what was wanted and what w carries: the key, both types and
// the codec's own message.
//
// Decoding from hostile bytes with Compact never panics and allocates at
// most 32 bytes per input byte, or, if more, twice the size of the Go
// value one input byte can fill: an empty list (2 bytes) fills a 24-byte
// slice header, an empty struct a whole struct. The decoder checks every
// count against the bytes left before it allocates, and nests 32 levels
// at most.
func Value[T any](w *warehouse.Warehouse) (T, error) {
	var v T
	b, ok := w.Bytes(KeyValue)
	if !ok {
		return v, &Error{Key: KeyValue, Want: typeName[T](), Err: fmt.Errorf("no %q bytes in the warehouse (keys %q)", KeyValue, w.Keys())}
	}
	c, got, err := codecOf(w)
	if err != nil {
		return v, &Error{Key: KeyCodec, Want: typeName[T](), Err: err}
	}
	if err := c.Unmarshal(b, &v); err != nil {
		return v, &Error{Key: KeyValue, Want: typeName[T](), Got: got, Codec: c.Name(), Err: err}
	}
	return v, nil
}

// CodecOf returns the codec that encoded the value w carries.
func CodecOf(w *warehouse.Warehouse) (Codec, error) {
	c, _, err := codecOf(w)
	return c, err
}

func codecOf(w *warehouse.Warehouse) (c Codec, typ string, err error) {
	s, _ := w.String(KeyCodec)
	name, typ, _ := strings.Cut(s, " ")
	c, ok := Lookup(name)
	if !ok {
		return nil, "", fmt.Errorf("%w %q", ErrUnknownCodec, name)
	}
	return c, typ, nil
}

// Error is a value that could not be decoded.
type Error struct {
	Key   string // the Warehouse key
	Want  string // the Go type asked for
	Got   string // the Go type the sender encoded, if it said
	Codec string
	Err   error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("codec: %q does not decode into %s", e.Key, e.Want)
	if e.Got != "" {
		s += fmt.Sprintf(" (the sender encoded a %s with %s)", e.Got, e.Codec)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the codec's error.
func (e *Error) Unwrap() error { return e.Err }

// codecKey is KeyCodec's text for a T encoded with c, made once.
func codecKey[T any](c Codec) string {
	k := codecType{c.Name(), reflect.TypeFor[T]()}
	if s, ok := keys.Load(k); ok {
		return s.(string)
	}
	s := k.codec + " " + k.t.String()
	keys.Store(k, s)
	return s
}

// typeName is T's name as %T prints it ("main.Params", "[]float64").
func typeName[T any]() string { return reflect.TypeFor[T]().String() }
