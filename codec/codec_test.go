package codec

import (
	"errors"
	"math"
	"reflect"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

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
	for _, c := range []Codec{Compact, JSON} {
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
			if got, want := w2.Keys(), []string{KeyCodec, KeyValue}; !slices.Equal(got, want) {
				t.Fatalf("keys %q, want %q", got, want)
			}
			if got, want := must(w2.String(KeyCodec)), c.Name()+" codec.params"; got != want {
				t.Fatalf("codec %q, want %q", got, want)
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
	if ce.Key != KeyValue || ce.Want != "codec.params" || ce.Got != "string" || ce.Codec != "compact" {
		t.Fatalf("error fields %+v", ce)
	}
	want := `codec: "value" does not decode into codec.params (the sender encoded a string with compact): `
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
// may fill if that is more (an empty list as a 24-byte slice header), and
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

// A vector takes 8 bytes a float, and its NaNs' bits come back.
func TestFloatVector(t *testing.T) {
	nan := math.Float64frombits(0x7ff8_0000_dead_beef)
	for _, in := range [][]float64{{}, {1.5, -0, nan}, make([]float64, 1000)} {
		w, err := New(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		head := map[int]int{0: 1, 3: 1, 1000: 2}[len(in)] // the count's varint
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
}

func must(s string, ok bool) string {
	if !ok {
		panic("no such key")
	}
	return s
}
