package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/fourinone-go/fourinone/warehouse"
)

type params struct {
	Name    string
	N       int
	Weights []float64
	Tags    map[string]string
	At      time.Time
	Next    *params
	Raw     []byte
}

func sample() params {
	at := time.Date(2026, 12, 6, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	return params{
		Name: "job-7", N: -42, Weights: []float64{0.5, -1e300, math.Inf(1), math.SmallestNonzeroFloat64},
		Tags: map[string]string{"a": "1", "": "empty"}, At: at,
		Next: &params{Name: "inner", N: math.MaxInt64}, Raw: []byte{0, 1, 255},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []Codec{CBOR, JSON} {
		t.Run(c.Name(), func(t *testing.T) {
			in := sample()
			if c == JSON {
				in.Weights = in.Weights[:1] // JSON has no infinities
			}
			w, err := New(c, in)
			if err != nil {
				t.Fatal(err)
			}
			// Through the Warehouse's own encoding, as on the wire.
			wire, err := w.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			w2, err := warehouse.Decode(wire)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Value[params](w2)
			if err != nil {
				t.Fatal(err)
			}
			if !out.At.Equal(in.At) {
				t.Fatalf("time %v came back as %v", in.At, out.At)
			}
			out.At, in.At = time.Time{}, time.Time{}
			if !reflect.DeepEqual(out, in) {
				t.Fatalf("got %+v, want %+v", out, in)
			}
			if got, _ := w2.String(KeyType); got != "codec.params" {
				t.Fatalf("type %q, want codec.params", got)
			}
		})
	}
}

func TestScalarsAndNil(t *testing.T) {
	w, err := New(nil, []float64(nil))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Value[[]float64](w); err != nil || v != nil {
		t.Fatalf("nil slice came back as %v, %v", v, err)
	}
	w, _ = New(nil, "text")
	if v, err := Value[string](w); err != nil || v != "text" {
		t.Fatalf("got %q, %v", v, err)
	}
}

func TestWrongType(t *testing.T) {
	w, err := New(nil, "not a struct")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Value[params](w)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *codec.Error", err)
	}
	if ce.Key != KeyValue || ce.Want != "codec.params" || ce.Got != "string" || ce.Codec != "cbor" {
		t.Fatalf("error fields %+v", ce)
	}
	want := `codec: "value" does not decode into codec.params (the sender encoded a string with cbor): `
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q, want it to start %q", err, want)
	}
}

func TestMissingAndUnknown(t *testing.T) {
	if _, err := Value[int](warehouse.New()); err == nil || !strings.Contains(err.Error(), `no "value" bytes`) {
		t.Fatalf("empty warehouse: %v", err)
	}
	w := warehouse.New()
	w.SetBytes(KeyValue, []byte{1})
	w.SetString(KeyCodec, "protobuf")
	if _, err := Value[int](w); !errors.Is(err, ErrUnknownCodec) || !strings.Contains(err.Error(), `"protobuf"`) {
		t.Fatalf("unknown codec: %v", err)
	}
}

// reversed is a codec of strings that reverses their bytes: a plugged-in
// codec travels by name.
type reversed struct{}

func (reversed) Name() string { return "reversed" }
func (reversed) Marshal(v any) ([]byte, error) {
	b := []byte(v.(string))
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b, nil
}
func (r reversed) Unmarshal(data []byte, v any) error {
	b, _ := r.Marshal(string(data))
	*(v.(*string)) = string(b)
	return nil
}

func TestRegister(t *testing.T) {
	Register(reversed{})
	w, err := New(reversed{}, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := w.Bytes(KeyValue); string(b) != "cba" {
		t.Fatalf("encoded %q", b)
	}
	if v, err := Value[string](w); err != nil || v != "abc" {
		t.Fatalf("got %q, %v", v, err)
	}
}

// Allocation bound: decoding hostile bytes allocates at most allocFactor
// bytes per input byte, or twice the size of the Go element one input byte
// may fill if that is more (an empty array as a 24-byte slice header), and
// a constant.
const (
	allocFactor = 32
	allocSlack  = 64 << 10
)

func allocated(f func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// head is a CBOR item head of major type major and argument n.
func head(major byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{major<<5 | 27}, n)
}

func TestDecodeAllocationBound(t *testing.T) {
	const n = 1 << 20
	var keys []byte // n distinct short text keys, each to 0
	for i := range n {
		keys = append(fmt.Appendf(append(keys, 0x65), "%05x", i), 0)
	}
	cases := []struct {
		name   string
		data   []byte
		decode func([]byte) error
		elem   uintptr // the size of the Go element an input byte may fill, if over 16
	}{
		{"huge array count", head(4, 1<<40), decodeInto[[]int64], 0},
		{"huge map count", head(5, 1<<40), decodeInto[map[string]int64], 0},
		{"huge text length", head(3, 1<<40), decodeInto[string], 0},
		{"count one short", append(head(4, n+1), bytes.Repeat([]byte{0}, n)...), decodeInto[[]int64], 0},
		{"zeros as int64s", append(head(4, n), bytes.Repeat([]byte{0}, n)...), decodeInto[[]int64], 0},
		{"zeros as float64s", append(head(4, n), bytes.Repeat([]byte{0}, n)...), decodeInto[[]float64], 0},
		{"empty strings", append(head(4, n), bytes.Repeat([]byte{0x60}, n)...), decodeInto[[]string], 0},
		{"empty arrays", append(head(4, n), bytes.Repeat([]byte{0x80}, n)...), decodeInto[[][]float64], unsafe.Sizeof([]float64{})},
		{"empty maps as structs", append(head(4, n), bytes.Repeat([]byte{0xa0}, n)...), decodeInto[[]params], unsafe.Sizeof(params{})},
		{"small keys", append(head(5, n), keys...), decodeInto[map[string]int64], 0},
		{"small keys as any", append(head(5, n), keys...), decodeInto[any], 0},
		{"deep nesting", append(bytes.Repeat([]byte{0x81}, n), 0), decodeInto[any], 0},
		{"struct of zeros", append(append([]byte{0xa1, 0x67}, "Weights"...), append(head(4, n), bytes.Repeat([]byte{0}, n)...)...), decodeInto[params], 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			got := allocated(func() { err = c.decode(c.data) })
			if limit := uint64(max(allocFactor, 2*int(c.elem))*len(c.data) + allocSlack); got > limit {
				t.Fatalf("decoding %d bytes allocated %d (%.1fx), over %d (err %v)", len(c.data), got, float64(got)/float64(len(c.data)), limit, err)
			}
			t.Logf("%d bytes: %.2fx allocated, err %v", len(c.data), float64(got)/float64(len(c.data)), err)
		})
	}
}

func decodeInto[T any](data []byte) error {
	w := warehouse.New()
	w.SetBytes(KeyValue, data)
	w.SetString(KeyCodec, "cbor")
	_, err := Value[T](w)
	return err
}

func TestFloatVector(t *testing.T) {
	nan := math.Float64frombits(0x7ff8_0000_dead_beef)
	for _, in := range [][]float64{{}, {1.5, -0, nan}, make([]float64, 31), make([]float64, 32), make([]float64, 8192)} {
		w, err := New(CBOR, in)
		if err != nil {
			t.Fatal(err)
		}
		head := map[int]int{0: 1, 3: 2, 31: 2, 32: 3, 8192: 5}[len(in)] // RFC 8949's shortest length
		if b, _ := w.Bytes(KeyValue); len(b) != 2+head+8*len(in) {
			t.Fatalf("%d floats took %d bytes, want %d", len(in), len(b), 2+head+8*len(in))
		}
		out, err := Value[[]float64](w)
		if err != nil || len(out) != len(in) || out == nil {
			t.Fatalf("%v came back as %v, %v", in, out, err)
		}
		for i := range in {
			if math.Float64bits(out[i]) != math.Float64bits(in[i]) {
				t.Fatalf("float %d: %x came back as %x", i, math.Float64bits(in[i]), math.Float64bits(out[i]))
			}
		}
	}
	// A typed array whose length is not a multiple of 8 is an error.
	w := warehouse.New()
	w.SetBytes(KeyValue, []byte{0xd8, tagFloat64LE, 0x43, 1, 2, 3})
	w.SetString(KeyCodec, "cbor")
	if _, err := Value[[]float64](w); err == nil || !strings.Contains(err.Error(), "not a multiple of 8") {
		t.Fatalf("3-byte typed array: %v", err)
	}
	// A length past the bytes is an error, with nothing allocated for it.
	w.SetBytes(KeyValue, append([]byte{0xd8, tagFloat64LE}, head(2, 1<<40)...))
	if got := allocated(func() { _, err := Value[[]float64](w); _ = err }); got > allocSlack {
		t.Fatalf("a typed array claiming 1 TiB allocated %d bytes", got)
	}
}
