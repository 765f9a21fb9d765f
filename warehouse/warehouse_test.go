package warehouse

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime/metrics"
	"testing"
)

func sample() *Warehouse {
	w := New()
	w.SetString("s", "héllo")
	w.SetString("empty", "")
	w.SetBytes("b", []byte{0, 1, 2, 255})
	w.SetInt64("i", -1<<62)
	w.SetFloat64("f", math.Pi)
	w.SetBool("t", true)
	w.SetBool("no", false)
	w.SetStrings("ss", []string{"a", "", "ccc"})
	w.SetInt64s("is", []int64{0, -1, math.MaxInt64, math.MinInt64})
	w.SetCounts("c", map[string]int64{"the": 3, "a": -2, "": 0})
	w.SetFloat64s("fs", []float64{0, -1.5, math.Inf(1), math.SmallestNonzeroFloat64, math.MaxFloat64})
	w.SetFloat64s("no floats", []float64{})
	w.SetFloat64Map("fm", map[string]float64{"w": 0.5, "": -2, "bias": math.Inf(-1)})
	return w
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		w    *Warehouse
	}{
		{"empty", New()},
		{"zero value", &Warehouse{}},
		{"all kinds", sample()},
		{"exception", NewException("worker: boom")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.w.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.w.Size(); got != len(b) {
				t.Fatalf("Size() = %d, encoding is %d bytes", got, len(b))
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Status() != tt.w.Status() || got.Message() != tt.w.Message() {
				t.Fatalf("status/message = %v/%q, want %v/%q", got.Status(), got.Message(), tt.w.Status(), tt.w.Message())
			}
			if !reflect.DeepEqual(got.Keys(), tt.w.Keys()) {
				t.Fatalf("keys = %q, want %q", got.Keys(), tt.w.Keys())
			}
			for _, k := range tt.w.Keys() {
				want, _ := tt.w.Get(k)
				have, _ := got.Get(k)
				if !reflect.DeepEqual(have, want) {
					t.Errorf("key %q = %#v, want %#v", k, have, want)
				}
			}
		})
	}
}

func TestTypedAccessors(t *testing.T) {
	w := sample()
	if v, ok := w.String("s"); !ok || v != "héllo" {
		t.Errorf("String = %q, %v", v, ok)
	}
	if _, ok := w.String("i"); ok {
		t.Error("String on an int64 key reported ok")
	}
	if _, ok := w.Int64("missing"); ok {
		t.Error("Int64 on a missing key reported ok")
	}
	if v, ok := w.Counts("c"); !ok || v["the"] != 3 {
		t.Errorf("Counts = %v, %v", v, ok)
	}
	if v, ok := w.Float64s("fs"); !ok || len(v) != 5 || v[1] != -1.5 {
		t.Errorf("Float64s = %v, %v", v, ok)
	}
	if v, ok := w.Float64Map("fm"); !ok || v["w"] != 0.5 {
		t.Errorf("Float64Map = %v, %v", v, ok)
	}
	if _, ok := w.Float64s("is"); ok {
		t.Error("Float64s on an []int64 key reported ok")
	}
	if err := w.Put("p", []float64{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := w.Put("pm", map[string]float64{"x": 1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Put("n", 7); err != nil {
		t.Fatal(err)
	}
	if v, ok := w.Int64("n"); !ok || v != 7 {
		t.Errorf("Put(int) then Int64 = %d, %v", v, ok)
	}
	if err := w.Put("bad", struct{}{}); err == nil {
		t.Error("Put of a struct succeeded")
	}
	if w.Has("bad") {
		t.Error("failed Put stored a value")
	}
	w.Delete("n")
	if w.Has("n") {
		t.Error("Delete left the key")
	}
}

func TestDecodeMalformed(t *testing.T) {
	good, _ := sample().MarshalBinary()
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"bad magic", []byte("XX\x01\x00\x00\x00")},
		{"bad version", []byte("FW\x09\x00\x00\x00")},
		{"bad status", []byte("FW\x01\x07\x00\x00")},
		{"truncated", good[:len(good)-3]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"huge count", []byte("FW\x01\x00\x00\xff\xff\xff\xff\x0f")},
		{"huge length", []byte("FW\x01\x00\xff\xff\xff\xff\x0f")},
		{"unknown kind", []byte("FW\x01\x00\x00\x01\x01k\x63")},
		{"bad bool", []byte("FW\x01\x00\x00\x01\x01k\x05\x02")},
		{"duplicate key", []byte("FW\x01\x00\x00\x02\x01k\x05\x01\x01k\x05\x00")},
		{"duplicate key among many", manyBools(20, 3)},
		{"short float in a list", []byte("FW\x01\x00\x00\x01\x01k\x09\x01\x00\x00\x00\x00")},
		{"floats claimed past the end", []byte("FW\x01\x00\x00\x01\x01k\x09\x02\x00\x00\x00\x00\x00\x00\x00\x00")},
		{"float map claimed past the end", []byte("FW\x01\x00\x00\x01\x01k\x0a\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Decode(tt.data)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, %v; want ErrMalformed", w, err)
			}
		})
	}
}

// manyBools encodes n bool entries "k0", "k1", ..., whose last repeats
// the key of entry dup.
func manyBools(n, dup int) []byte {
	b := binary.AppendUvarint([]byte("FW\x01\x00\x00"), uint64(n))
	for i := range n {
		if i == n-1 {
			i = dup
		}
		k := fmt.Sprint("k", i)
		b = append(binary.AppendUvarint(b, uint64(len(k))), k...)
		b = append(b, kindBool, 1)
	}
	return b
}

// Keys are found, replaced and deleted alike in a small Warehouse (its
// entries scanned) and a large one (indexed), and what is left encodes.
func TestSetReplaceDelete(t *testing.T) {
	for _, n := range []int{1, 2, 3, indexAt, indexAt + 1, 40} {
		t.Run(fmt.Sprint(n, " keys"), func(t *testing.T) {
			w := New()
			for i := range n {
				w.SetInt64(fmt.Sprint("k", i), int64(i))
			}
			for i := 0; i < n; i += 3 {
				w.SetString(fmt.Sprint("k", i), fmt.Sprint("s", i)) // replaced, another kind
			}
			for i := 1; i < n; i += 3 {
				w.Delete(fmt.Sprint("k", i))
			}
			w.Delete("absent")
			check := func(w *Warehouse) {
				t.Helper()
				left := 0
				for i := range n {
					k := fmt.Sprint("k", i)
					v, _ := w.Get(k)
					switch i % 3 {
					case 0:
						if v != fmt.Sprint("s", i) {
							t.Fatalf("%s = %#v, want the string s%d", k, v, i)
						}
						if _, ok := w.Int64(k); ok {
							t.Fatalf("Int64(%s) found the replaced int64", k)
						}
					case 1:
						if w.Has(k) {
							t.Fatalf("%s deleted, still there as %#v", k, v)
						}
						continue
					case 2:
						if v != int64(i) {
							t.Fatalf("%s = %#v, want int64 %d", k, v, i)
						}
					}
					left++
				}
				if w.Len() != left {
					t.Fatalf("Len = %d, want %d", w.Len(), left)
				}
			}
			check(w)
			b, _ := w.MarshalBinary()
			d, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			check(d)
		})
	}
}

func TestSizeError(t *testing.T) {
	err := error(&SizeError{Size: 100, Limit: 10})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatal("SizeError does not wrap ErrTooLarge")
	}
	if got, want := err.Error(), "warehouse: encoded size 100 bytes exceeds the limit of 10 bytes"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := sample().MarshalBinary()
	f.Add(good)
	f.Add([]byte("FW\x01\x00\x00\x00"))
	for _, data := range hostile(1 << 10) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var w *Warehouse
		var err error
		// The counter is the process's: the fuzzing engine's goroutines
		// allocate too, so take the least of a few tries.
		got := allocated(func() { w, err = Decode(data) })
		limit := uint64(allocFactor*len(data) + allocSlack)
		for i := 0; i < 3 && got > limit; i++ {
			got = min(got, allocated(func() { _, _ = Decode(data) }))
		}
		if got > limit {
			t.Fatalf("decoding %d bytes allocated %d bytes, over %d", len(data), got, limit)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// What decodes re-encodes to something that decodes to the same keys.
		b, _ := w.MarshalBinary()
		if len(b) != w.Size() {
			t.Fatalf("Size %d != len %d", w.Size(), len(b))
		}
		w2, err := Decode(b)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(w.Keys(), w2.Keys()) {
			t.Fatal("keys changed")
		}
	})
}

// allocBound is what decoding may allocate: allocFactor bytes per input
// byte, plus a constant for the Warehouse itself and small maps.
const (
	allocFactor = 24
	allocSlack  = 64 << 10
)

// allocated returns the bytes of heap f allocates.
func allocated(f func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// hostile returns encodings of about size bytes built to make a decoder
// allocate: counts that claim an entry per byte left, and valid Warehouses
// of the cheapest elements (empty strings, zeros, short distinct keys).
func hostile(size int) map[string][]byte {
	// one returns a Warehouse of one key "k" of kind holding n elements.
	one := func(kind byte, n int, elems []byte) []byte {
		b := append([]byte("FW\x01\x00\x00\x01\x01k"), kind)
		return append(binary.AppendUvarint(b, uint64(n)), elems...)
	}
	// top returns a Warehouse of n top-level entries.
	top := func(n int, entries []byte) []byte {
		return append(binary.AppendUvarint([]byte("FW\x01\x00\x00"), uint64(n)), entries...)
	}
	same := func(n int, c byte) []byte { return bytes.Repeat([]byte{c}, n) }
	var dense, keys []byte
	nd, nk := 0, 0
	for ; len(dense) < size-5; nd++ {
		dense = append(dense, 3, byte(nd>>16), byte(nd>>8), byte(nd), 0)
	}
	for ; len(keys) < size-7; nk++ {
		keys = append(keys, 4, byte(nk>>24), byte(nk>>16), byte(nk>>8), byte(nk), kindBool, 1)
	}
	var floatKeys []byte
	nf := 0
	for ; len(floatKeys) < size-12; nf++ {
		floatKeys = append(floatKeys, 3, byte(nf>>16), byte(nf>>8), byte(nf), 0, 0, 0, 0, 0, 0, 0, 0)
	}
	return map[string][]byte{
		"counts claim an entry per two bytes": one(kindCounts, size/2, same(size, 1)),
		"strings claim an element per byte":   one(kindStrings, size, same(size, 0x80)),
		"top-level claims an entry per byte":  top(size, same(size, 1)),
		"top-level claims all it can hold":    top(size/minEntry, same(size, 0)),
		"empty strings":                       one(kindStrings, size, same(size, 0)),
		"zero integers":                       one(kindInt64s, size, same(size, 0)),
		"distinct short count keys":           one(kindCounts, nd, dense),
		"distinct short top-level keys":       top(nk, keys),
		"zero floats":                         one(kindFloat64s, size/8, same(size/8*8, 0)),
		"floats claim one per 8 bytes":        one(kindFloat64s, size/8, same(size, 0xff)),
		"distinct short float keys":           one(kindFloat64Map, nf, floatKeys),
	}
}

// TestDecodeAllocationBound: whatever the bytes claim, decoding allocates
// at most a small constant times their size.
func TestDecodeAllocationBound(t *testing.T) {
	const size = 4 << 20
	for name, data := range hostile(size) {
		t.Run(name, func(t *testing.T) {
			var err error
			got := allocated(func() { _, err = Decode(data) })
			if limit := uint64(allocFactor*len(data) + allocSlack); got > limit {
				t.Fatalf("decoding %d bytes allocated %d bytes (%.1fx), over %d (err %v)",
					len(data), got, float64(got)/float64(len(data)), limit, err)
			}
			t.Logf("%d bytes: %.2fx allocated, err %v", len(data), float64(got)/float64(len(data)), err)
		})
	}
}

// A typed task's codec name is decoded as one shared value; distinct
// names past the table's 256 still decode, as copies.
func TestCodecNames(t *testing.T) {
	for i := range 300 {
		w := New()
		name := fmt.Sprintf("compact main.T%d", i)
		w.SetString("codec", name)
		b, err := w.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			d, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := d.String("codec"); got != name {
				t.Fatalf("codec %q came back as %q", name, got)
			}
		}
	}
	if n := len(*codecNames.Load()); n != 256 {
		t.Fatalf("%d names kept, want 256", n)
	}
}
