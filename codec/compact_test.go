package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

type node struct {
	Name     string
	Children []*node
	Attrs    map[int]string
	Hash     [4]byte
	Small    int8
	Big      uint64
	F32      float32
	Any      any
	Skip     string `codec:"-"`
	Renamed  bool   `codec:"on"`
	internal int
}

func compactTrip[T any](t *testing.T, in T) T {
	t.Helper()
	b, err := Compact.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := Compact.Unmarshal(b, &out); err != nil {
		t.Fatalf("decoding %x: %v", b, err)
	}
	return out
}

func TestCompactValues(t *testing.T) {
	at := time.Date(2026, 12, 6, 3, 4, 5, 6, time.FixedZone("", -7*3600))
	tree := &node{Name: "root", Attrs: map[int]string{-1: "minus", 7: ""}, Hash: [4]byte{1, 2, 3, 4}, Small: -128, Big: math.MaxUint64,
		F32: 1.5, Any: map[string]any{"list": []any{int64(1), "x", nil, true, 2.5, []byte{9}, []float64{1}, at}, "n": uint64(3)},
		Skip: "not sent", Renamed: true, internal: 5,
		Children: []*node{{Name: "leaf"}, nil}}
	got := compactTrip(t, tree)
	tree.Skip, tree.internal = "", 0
	if !reflect.DeepEqual(got, tree) {
		t.Fatalf("got %+v, want %+v", got, tree)
	}
	if got := compactTrip(t, at); !got.Equal(at) || got.Format(time.RFC3339Nano) != at.Format(time.RFC3339Nano) {
		t.Fatalf("time %v came back as %v", at, got)
	}
	if got := compactTrip(t, []float64(nil)); got != nil {
		t.Fatalf("nil vector came back as %v", got)
	}
	if got := compactTrip(t, []byte{}); got == nil || len(got) != 0 {
		t.Fatalf("empty bytes came back as %#v", got)
	}
	type vec []float64
	if got := compactTrip(t, vec{1, math.Inf(-1)}); !reflect.DeepEqual(got, vec{1, math.Inf(-1)}) {
		t.Fatalf("named vector came back as %v", got)
	}
	if got := compactTrip(t, map[string][]string{"a": {"b"}}); !reflect.DeepEqual(got, map[string][]string{"a": {"b"}}) {
		t.Fatalf("map came back as %v", got)
	}
}

// Programs built apart agree field by field: a field the receiver lacks is
// skipped, one it was not sent stays zero, and the order does not matter.
func TestCompactFieldsByName(t *testing.T) {
	type v1 struct {
		A     string
		Extra map[string][]any
		B     int
	}
	type v2 struct {
		B     int64
		C     []string
		A     string
		inner bool
	}
	b, err := Compact.Marshal(v1{A: "a", Extra: map[string][]any{"x": {1, "y", []any{nil}}}, B: 42})
	if err != nil {
		t.Fatal(err)
	}
	var out v2
	if err := Compact.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, v2{A: "a", B: 42}) {
		t.Fatalf("got %+v", out)
	}
}

func TestCompactErrors(t *testing.T) {
	type inner struct{ N uint8 }
	type outer struct {
		Name  string
		Inner inner
	}
	encode := func(v any) []byte {
		b, err := Compact.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	type wide struct{ N int }
	type wrap struct {
		Name  string
		Inner wide
	}
	for _, c := range []struct {
		name string
		data []byte
		into any
		want string
	}{
		{"kind", encode("text"), new(outer), "codec: cannot decode a string into codec.outer"},
		{"field kind", encode(struct{ Name int }{3}), new(outer), "codec: field codec.outer.Name: cannot decode an integer into string"},
		{"overflow in a nested field", encode(wrap{Inner: wide{N: 300}}), new(outer), "codec: field codec.inner.N: 300 overflows uint8"},
		{"negative into unsigned", encode(-1), new(uint), "codec: -1 into uint"},
		{"trailing bytes", append(encode(1), 0), new(int), "codec: 1 bytes after the value"},
		{"no version", []byte{}, new(int), "not a compact encoding"},
		{"truncated", encode("text")[:3], new(string), "a count of 4, more than the 0 bytes left can hold"},
		{"array too long", encode([]int{1, 2, 3}), new([2]int), "a list of 3 into [2]int"},
		{"map keys into any", encode(map[int]int{1: 1}), new(any), "a map with an integer keys into an interface"},
		{"unknown kind", []byte{compactVersion, 99}, new(any), "unknown kind 99"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Compact.Unmarshal(c.data, c.into)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to say %q", err, c.want)
			}
		})
	}
	for _, v := range []any{make(chan int), func() {}, complex(1, 2), struct{ F fmt.Stringer }{}} {
		if _, err := Compact.Marshal(v); err == nil || !strings.Contains(err.Error(), "cannot encode") {
			t.Fatalf("encoding a %T: %v", v, err)
		}
	}
	deep := &node{}
	for range 40 {
		deep = &node{Children: []*node{deep}}
	}
	if _, err := Compact.Marshal(deep); err == nil || !strings.Contains(err.Error(), "nested more than 32") {
		t.Fatalf("encoding 40 levels: %v", err)
	}
	var cycle any
	cycle = &cycle
	if _, err := Compact.Marshal(cycle); err == nil || !strings.Contains(err.Error(), "nested more than 32") {
		t.Fatalf("encoding a cycle: %v", err)
	}
	// What decodes encodes: 32 levels of lists either way, 33 neither.
	for _, levels := range []int{32, 33} {
		data := append(append([]byte{compactVersion}, bytes.Repeat([]byte{kList, 1}, levels-1)...), kList, 0)
		var v any
		err := Compact.Unmarshal(data, &v)
		nested := any([]any{})
		for range levels - 1 {
			nested = []any{nested}
		}
		enc, encErr := Compact.Marshal(nested)
		if (err == nil) != (levels == 32) || (encErr == nil) != (levels == 32) || encErr == nil && !bytes.Equal(enc, data) {
			t.Fatalf("%d levels: decoding %v, encoding %v", levels, err, encErr)
		}
	}
}

// compactHostile returns Compact encodings built to make a decoder
// allocate, with the Go value each fills and the size of the Go element one
// input byte may fill, if over 16.
func TestCompactAllocationBound(t *testing.T) {
	const n = 1 << 20
	head := func(kind byte, count int) []byte {
		return binary.AppendUvarint([]byte{compactVersion, kind}, uint64(count))
	}
	var keys []byte // n distinct short string keys, each to nil
	for i := range n {
		keys = append(append(append(keys, kString, 5), fmt.Sprintf("%05x", i)...), kNil)
	}
	cases := []struct {
		name string
		data []byte
		into func() any
		elem uintptr
	}{
		{"huge count", head(kList, 1<<40), func() any { return new([]int64) }, 0},
		{"huge vector", head(kFloats, 1<<40), func() any { return new([]float64) }, 0},
		{"huge string", head(kString, 1<<40), func() any { return new(string) }, 0},
		{"nils as ints", append(head(kList, n), bytes.Repeat([]byte{kNil}, n)...), func() any { return new([]int64) }, 0},
		{"falses as any", append(head(kList, n), bytes.Repeat([]byte{kFalse}, n)...), func() any { return new(any) }, 0},
		{"nils as strings", append(head(kList, n), bytes.Repeat([]byte{kNil}, n)...), func() any { return new([]string) }, 0},
		{"nils as slices", append(head(kList, n), bytes.Repeat([]byte{kNil}, n)...), func() any { return new([][]float64) }, unsafe.Sizeof([]float64{})},
		{"nils as structs", append(head(kList, n), bytes.Repeat([]byte{kNil}, n)...), func() any { return new([]*node) }, 0},
		{"empty structs", append(head(kList, n), bytes.Repeat([]byte{kStruct, 0}, n)...), func() any { return new([]node) }, unsafe.Sizeof(node{})},
		{"small keys", append(head(kMap, n), keys...), func() any { return new(map[string]*int) }, 0},
		{"small keys as any", append(head(kMap, n), keys...), func() any { return new(any) }, 0},
		{"deep lists", append([]byte{compactVersion}, bytes.Repeat([]byte{kList, 1}, n)...), func() any { return new(any) }, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			into := c.into()
			got := allocated(func() { err = Compact.Unmarshal(c.data, into) })
			if limit := uint64(max(allocFactor, 2*int(c.elem))*len(c.data) + allocSlack); got > limit {
				t.Fatalf("decoding %d bytes allocated %d (%.1fx), over %d (err %v)", len(c.data), got, float64(got)/float64(len(c.data)), limit, err)
			}
			t.Logf("%d bytes: %.2fx allocated, err %v", len(c.data), float64(got)/float64(len(c.data)), err)
		})
	}
}
