package warehouse

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"sync"
	"sync/atomic"
)

// The encoding, version 1:
//
//	magic 'F' 'W', version 1, status byte,
//	message (uvarint length, bytes), key count (uvarint),
//	then per key: key (uvarint length, bytes), kind byte, value.
//
// Values: string and []byte as uvarint length and bytes; int64 as zigzag
// varint; float64 as 8 little-endian bytes; bool as one byte; []string,
// []int64 and []float64 as a uvarint count and their elements;
// map[string]int64 and map[string]float64 as a uvarint count and key/value
// pairs.
const (
	magic0, magic1 = 'F', 'W'
	version        = 1
)

const (
	kindString byte = iota + 1
	kindBytes
	kindInt64
	kindFloat64
	kindBool
	kindStrings
	kindInt64s
	kindCounts
	kindFloat64s
	kindFloat64Map
)

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

func strLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

// Size returns the exact length of w's encoding in bytes.
func (w *Warehouse) Size() int {
	n := 4 + strLen(w.message) + uvarintLen(uint64(len(w.m)))
	for k, v := range w.m {
		n += strLen(k) + 1
		switch x := v.(type) {
		case string:
			n += strLen(x)
		case []byte:
			n += uvarintLen(uint64(len(x))) + len(x)
		case int64:
			n += varintLen(x)
		case float64:
			n += 8
		case bool:
			n++
		case []string:
			n += uvarintLen(uint64(len(x)))
			for _, s := range x {
				n += strLen(s)
			}
		case []int64:
			n += uvarintLen(uint64(len(x)))
			for _, i := range x {
				n += varintLen(i)
			}
		case map[string]int64:
			n += uvarintLen(uint64(len(x)))
			for s, i := range x {
				n += strLen(s) + varintLen(i)
			}
		case []float64:
			n += uvarintLen(uint64(len(x))) + 8*len(x)
		case map[string]float64:
			n += uvarintLen(uint64(len(x))) + 8*len(x)
			for s := range x {
				n += strLen(s)
			}
		}
	}
	return n
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBinary appends w's encoding to b. It implements
// encoding.BinaryAppender and never fails.
func (w *Warehouse) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, magic0, magic1, version, byte(w.status))
	b = appendStr(b, w.message)
	b = binary.AppendUvarint(b, uint64(len(w.m)))
	for k, v := range w.m {
		b = appendStr(b, k)
		switch x := v.(type) {
		case string:
			b = append(b, kindString)
			b = appendStr(b, x)
		case []byte:
			b = append(b, kindBytes)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		case int64:
			b = append(b, kindInt64)
			b = binary.AppendVarint(b, x)
		case float64:
			b = append(b, kindFloat64)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		case bool:
			b = append(b, kindBool)
			if x {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case []string:
			b = append(b, kindStrings)
			b = binary.AppendUvarint(b, uint64(len(x)))
			for _, s := range x {
				b = appendStr(b, s)
			}
		case []int64:
			b = append(b, kindInt64s)
			b = binary.AppendUvarint(b, uint64(len(x)))
			for _, i := range x {
				b = binary.AppendVarint(b, i)
			}
		case map[string]int64:
			b = append(b, kindCounts)
			b = binary.AppendUvarint(b, uint64(len(x)))
			for s, i := range x {
				b = appendStr(b, s)
				b = binary.AppendVarint(b, i)
			}
		case []float64:
			b = append(b, kindFloat64s)
			b = binary.AppendUvarint(b, uint64(len(x)))
			for _, f := range x {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
			}
		case map[string]float64:
			b = append(b, kindFloat64Map)
			b = binary.AppendUvarint(b, uint64(len(x)))
			for s, f := range x {
				b = appendStr(b, s)
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
			}
		}
	}
	return b, nil
}

// MarshalBinary returns w's encoding. It implements encoding.BinaryMarshaler.
func (w *Warehouse) MarshalBinary() ([]byte, error) {
	return w.AppendBinary(make([]byte, 0, w.Size()))
}

// UnmarshalBinary replaces w's contents with the decoded data. It implements
// encoding.BinaryUnmarshaler; byte slice values alias data.
func (w *Warehouse) UnmarshalBinary(data []byte) error {
	d, err := Decode(data)
	if err != nil {
		return err
	}
	*w = *d
	return nil
}

// decoder reads the encoding; the first error sticks and later reads return
// zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("unexpected end of data")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad length or count")
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	x, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad integer")
		return 0
	}
	d.b = d.b[n:]
	return x
}

// Minimum encoded sizes of one element, which bound what a count may claim:
// a top-level entry is a key length, a kind and at least one byte of value;
// a counts entry is a key length and a varint; a list element is a byte;
// a float64 is 8, and a float64 map entry a key length and 8.
const (
	minEntry      = 3
	minCountEntry = 2
	minElem       = 1
	floatSize     = 8
	minFloatEntry = 1 + floatSize
)

// maxMapHint caps the size hint of a decoded map: a map grows as entries
// really arrive, so a count that lies costs nothing up front.
const maxMapHint = 1 << 10

// count reads an element count whose elements take at least min bytes
// each; a count the bytes left cannot hold is malformed and never
// allocated. So a slice sized from a count costs at most 16 bytes (a
// string header) per input byte.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail("count %d exceeds what the %d bytes left can hold", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d exceeds the %d bytes left", n, len(d.b))
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) str() string { return string(d.raw()) }

// codecName reads the string under a typed task's "codec" key (a codec's
// name and a Go type's), which comes again with every task of a job: as a
// value boxed once, from a table of at most 256 of them (a sender of many
// distinct names fills it, then gets copies like any string).
func (d *decoder) codecName() any {
	b := d.raw()
	m := *codecNames.Load()
	if v, ok := m[string(b)]; ok { // looked up without a copy
		return v
	}
	var v any = string(b)
	if len(m) < 256 && len(b) <= 256 {
		codecNamesMu.Lock()
		next := maps.Clone(*codecNames.Load())
		next[v.(string)] = v
		codecNames.Store(&next)
		codecNamesMu.Unlock()
	}
	return v
}

var (
	codecNames   atomic.Pointer[map[string]any]
	codecNamesMu sync.Mutex // one writer at a time
)

func init() { codecNames.Store(&map[string]any{}) }

// key reads a key. The framework's most common keys come back as constants
// rather than copies (as net/http does for common header names): a typed
// task's, and IntRange's.
func (d *decoder) key() string {
	b := d.raw()
	switch string(b) { // compared without a copy
	case "value":
		return "value"
	case "codec":
		return "codec"
	case "lo":
		return "lo"
	case "hi":
		return "hi"
	}
	return string(b)
}

func (d *decoder) float64() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < floatSize {
		d.fail("short float64")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[floatSize:]
	return f
}

// decodeMap reads a map of a count of entries (each at least minEntry
// bytes), each a key and a value read by value.
func decodeMap[V any](d *decoder, minEntry int, value func() V) map[string]V {
	c := d.count(minEntry)
	m := make(map[string]V, min(c, maxMapHint))
	for j := 0; j < c && d.err == nil; j++ {
		s := d.str()
		m[s] = value()
	}
	return m
}

// Decode decodes a Warehouse from data. Byte slice values alias data, so the
// caller must not change data afterwards. Malformed data gives an error
// wrapping ErrMalformed; Decode never panics.
func Decode(data []byte) (*Warehouse, error) {
	d := &decoder{b: data}
	if d.byte1() != magic0 || d.byte1() != magic1 {
		return nil, fmt.Errorf("%w: bad magic", ErrMalformed)
	}
	if v := d.byte1(); v != version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	w := &Warehouse{status: Status(d.byte1())}
	if w.status > StatusException {
		return nil, fmt.Errorf("%w: unknown status %d", ErrMalformed, w.status)
	}
	w.message = d.str()
	n := d.count(minEntry)
	if n > 0 {
		w.m = make(map[string]any, min(n, maxMapHint))
	}
	for i := 0; i < n && d.err == nil; i++ {
		k := d.key()
		kind := d.byte1()
		var v any
		switch kind {
		case kindString:
			if k == "codec" {
				v = d.codecName()
			} else {
				v = d.str()
			}
		case kindBytes:
			v = d.raw()
		case kindInt64:
			v = d.varint()
		case kindFloat64:
			v = d.float64()
		case kindBool:
			c := d.byte1()
			if c > 1 {
				d.fail("bad bool %d", c)
			}
			v = c == 1
		case kindStrings:
			ss := make([]string, d.count(minElem))
			for j := range ss {
				ss[j] = d.str()
			}
			v = ss
		case kindInt64s:
			is := make([]int64, d.count(minElem))
			for j := range is {
				is[j] = d.varint()
			}
			v = is
		case kindCounts:
			v = decodeMap(d, minCountEntry, d.varint)
		case kindFloat64s:
			fs := make([]float64, d.count(floatSize))
			for j := range fs {
				fs[j] = d.float64()
			}
			v = fs
		case kindFloat64Map:
			v = decodeMap(d, minFloatEntry, d.float64)
		default:
			d.fail("unknown value kind %d for key %q", kind, k)
		}
		if d.err == nil {
			if _, dup := w.m[k]; dup {
				d.fail("duplicate key %q", k)
			}
			w.m[k] = v
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return w, nil
}
