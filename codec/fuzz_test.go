package codec

import (
	"bytes"
	"testing"

	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fxamacker/cbor/v2"
)

// canonical is the CBOR codec's encoding with map keys sorted, to compare.
var canonical, _ = cbor.EncOptions{Time: cbor.TimeRFC3339Nano, Sort: cbor.SortCoreDeterministic}.EncMode()

// FuzzValue: a value's bytes from the network never panic the decoder, and
// what decodes encodes to bytes that decode to the same encoding again.
func FuzzValue(f *testing.F) {
	for _, v := range []any{sample(), params{}, []float64{1.5}, map[string]any{"a": []any{1, "x"}}} {
		b, err := CBOR.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(appendFloats(nil, []float64{1, 2.5}))
	f.Add([]byte{})
	f.Add(head(4, 1<<40))
	f.Fuzz(func(t *testing.T, b []byte) {
		w := warehouse.New()
		w.SetBytes(KeyValue, b)
		w.SetString(KeyCodec, "cbor")
		if f, err := Value[[]float64](w); err == nil {
			if g, err := Value[[]float64](mustNew(t, f)); err != nil || len(g) != len(f) {
				t.Fatalf("%d floats came back as %d, %v", len(f), len(g), err)
			}
		}
		if _, err := Value[any](w); err != nil {
			return
		}
		v, err := Value[params](w)
		if err != nil {
			return
		}
		once, err := canonical.Marshal(v)
		if err != nil {
			t.Fatalf("%+v decoded but does not encode: %v", v, err)
		}
		var v2 params
		if err := CBOR.Unmarshal(once, &v2); err != nil {
			t.Fatalf("re-decoding %x: %v", once, err)
		}
		if twice, _ := canonical.Marshal(v2); !bytes.Equal(once, twice) {
			t.Fatalf("encoded %x, then %x", once, twice)
		}
	})
}

func mustNew[T any](t *testing.T, v T) *warehouse.Warehouse {
	w, err := New(CBOR, v)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
