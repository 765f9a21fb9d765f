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
	n := 4 + strLen(w.message) + uvarintLen(uint64(len(w.e)))
	for i := range w.e {
		e := &w.e[i]
		n += strLen(e.key) + 1
		switch e.kind {
		case kindString, kindBytes:
			n += uvarintLen(e.num) + int(e.num)
		case kindInt64:
			n += varintLen(int64(e.num))
		case kindFloat64:
			n += 8
		case kindBool:
			n++
		}
		switch x := e.x.(type) {
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

// AppendBinary appends w's encoding to b, its keys in the order they were
// first set. It implements encoding.BinaryAppender and never fails.
func (w *Warehouse) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, magic0, magic1, version, byte(w.status))
	b = appendStr(b, w.message)
	b = binary.AppendUvarint(b, uint64(len(w.e)))
	for i := range w.e {
		e := &w.e[i]
		b = appendStr(b, e.key)
		b = append(b, e.kind)
		switch e.kind {
		case kindString, kindBytes:
			b = binary.AppendUvarint(b, e.num)
			b = append(b, e.bytes()...)
		case kindInt64:
			b = binary.AppendVarint(b, int64(e.num))
		case kindFloat64:
			b = binary.LittleEndian.AppendUint64(b, e.num)
		case kindBool:
			b = append(b, byte(e.num))
		}
		switch x := e.x.(type) {
		case []string:
			b = binary.AppendUvarint(b, uint64(len(x)))
			for _, s := range x {
				b = appendStr(b, s)
			}
		case []int64:
			b = binary.AppendUvarint(b, uint64(len(x)))
			for _, i := range x {
				b = binary.AppendVarint(b, i)
			}
		case map[string]int64:
			b = binary.AppendUvarint(b, uint64(len(x)))
			for s, i := range x {
				b = appendStr(b, s)
				b = binary.AppendVarint(b, i)
			}
		case []float64:
			b = binary.AppendUvarint(b, uint64(len(x)))
			for _, f := range x {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
			}
		case map[string]float64:
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
	var d Warehouse
	if err := d.decode(data); err != nil {
		return err
	}
	*w = d
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
// name and a Go type's), which comes again with every task of a job: from
// a table of at most 256 of them, without a copy (a sender of many
// distinct names fills it, then gets copies like any string).
func (d *decoder) codecName() string {
	b := d.raw()
	m := *codecNames.Load()
	if s, ok := m[string(b)]; ok { // looked up without a copy
		return s
	}
	s := string(b)
	if len(m) < 256 && len(b) <= 256 {
		codecNamesMu.Lock()
		next := maps.Clone(*codecNames.Load())
		next[s] = s
		codecNames.Store(&next)
		codecNamesMu.Unlock()
	}
	return s
}

var (
	codecNames   atomic.Pointer[map[string]string]
	codecNamesMu sync.Mutex // one writer at a time
)

func init() { codecNames.Store(&map[string]string{}) }

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
	w := new(Warehouse)
	if err := w.decode(data); err != nil {
		return nil, err
	}
	return w, nil
}

// decode decodes data into w, which is empty.
func (w *Warehouse) decode(data []byte) error {
	d := &decoder{b: data}
	if d.byte1() != magic0 || d.byte1() != magic1 {
		return fmt.Errorf("%w: bad magic", ErrMalformed)
	}
	if v := d.byte1(); v != version {
		return fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	w.status = Status(d.byte1())
	if w.status > StatusException {
		return fmt.Errorf("%w: unknown status %d", ErrMalformed, w.status)
	}
	w.message = d.str()
	n := d.count(minEntry)
	w.e = w.inline[:0]
	if n > len(w.inline) {
		// At the count's size: it was checked against the bytes left,
		// so a count that lies costs at most an entry (56 bytes) per
		// minEntry bytes, once.
		w.e = make([]entry, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		e := entry{key: d.key(), kind: d.byte1()}
		switch e.kind {
		case kindString:
			if e.key == "codec" {
				e = stringEntry(e.key, d.codecName())
			} else {
				e = stringEntry(e.key, d.str())
			}
		case kindBytes:
			e = bytesEntry(e.key, d.raw())
		case kindInt64:
			e.num = uint64(d.varint())
		case kindFloat64:
			e.num = math.Float64bits(d.float64())
		case kindBool:
			e.num = uint64(d.byte1())
			if e.num > 1 {
				d.fail("bad bool %d", e.num)
			}
		case kindStrings:
			ss := make([]string, d.count(minElem))
			for j := range ss {
				ss[j] = d.str()
			}
			e.x = ss
		case kindInt64s:
			is := make([]int64, d.count(minElem))
			for j := range is {
				is[j] = d.varint()
			}
			e.x = is
		case kindCounts:
			e.x = decodeMap(d, minCountEntry, d.varint)
		case kindFloat64s:
			fs := make([]float64, d.count(floatSize))
			for j := range fs {
				fs[j] = d.float64()
			}
			e.x = fs
		case kindFloat64Map:
			e.x = decodeMap(d, minFloatEntry, d.float64)
		default:
			d.fail("unknown value kind %d for key %q", e.kind, e.key)
		}
		if d.err != nil {
			break
		}
		if len(w.e) < indexAt && w.find(e.key) >= 0 {
			d.fail("duplicate key %q", e.key)
		}
		w.e = append(w.e, e)
	}
	if d.err == nil && len(w.e) > indexAt {
		// Indexed once, at its size, and checked for duplicates.
		w.idx = make(map[string]int, len(w.e))
		for i := range w.e {
			if _, dup := w.idx[w.e[i].key]; dup {
				d.fail("duplicate key %q", w.e[i].key)
				break
			}
			w.idx[w.e[i].key] = i
		}
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return nil
}
