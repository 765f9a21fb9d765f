package codec

import (
	"reflect"
	"testing"
)

// FuzzCompact: Compact's decoder never panics on any bytes, and what
// decodes encodes again to as many bytes (map order may differ) that
// decode too.
func FuzzCompact(f *testing.F) {
	for _, v := range []any{sample(), &node{Name: "n", Attrs: map[int]string{1: "a"}, Any: []any{1, "x"}}, []float64{1.5}, map[string]any{"a": []any{1, "x"}}} {
		b, err := Compact.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{compactVersion})
	f.Add([]byte{compactVersion, kList, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		// check encodes v, a value decoded into a *T, decodes it into a
		// new T and encodes that.
		check := func(v any, typ reflect.Type) {
			once, err := Compact.Marshal(v)
			if err != nil {
				t.Fatalf("a %T decoded but does not encode: %v", v, err)
			}
			again := reflect.New(typ)
			if err := Compact.Unmarshal(once, again.Interface()); err != nil {
				t.Fatalf("re-decoding %x: %v", once, err)
			}
			if twice, _ := Compact.Marshal(again.Elem().Interface()); len(twice) != len(once) {
				t.Fatalf("encoded %x, then %x", once, twice)
			}
		}
		var a any
		if Compact.Unmarshal(b, &a) == nil {
			check(a, reflect.TypeFor[any]())
		}
		var n node
		if Compact.Unmarshal(b, &n) == nil {
			check(n, reflect.TypeFor[node]())
		}
		var p params
		if Compact.Unmarshal(b, &p) == nil {
			check(p, reflect.TypeFor[params]())
		}
	})
}
