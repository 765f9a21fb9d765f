package combiner

import (
	"maps"
	"reflect"
	"testing"

	"github.com/fourinone-go/fourinone/warehouse"
)

func fold(t *testing.T, c Combiner, rs ...*warehouse.Warehouse) (*warehouse.Warehouse, error) {
	t.Helper()
	acc := warehouse.New()
	var err error
	for _, r := range rs {
		if acc, err = c.Combine(acc, r); err != nil {
			return nil, err
		}
	}
	return acc, nil
}

func counts(m map[string]int64) *warehouse.Warehouse {
	w := warehouse.New()
	w.SetCounts("c", m)
	return w
}

func TestSumCounts(t *testing.T) {
	got, err := fold(t, SumCounts("c"),
		counts(map[string]int64{"a": 1, "b": 2}),
		warehouse.New(), // no key: adds nothing
		counts(map[string]int64{"b": 3, "c": 4, "d": 5}),
		counts(map[string]int64{"a": 10}))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := got.Counts("c")
	want := map[string]int64{"a": 11, "b": 5, "c": 4, "d": 5}
	if !maps.Equal(c, want) {
		t.Fatalf("sum = %v, want %v", c, want)
	}
	bad := warehouse.New()
	bad.SetString("c", "x")
	if _, err := fold(t, SumCounts("c"), bad); err == nil {
		t.Fatal("a string under the key was accepted")
	}
}

func TestSumInt64AndConcat(t *testing.T) {
	mk := func(n int64, ss ...string) *warehouse.Warehouse {
		w := warehouse.New()
		w.SetInt64("n", n)
		w.SetStrings("s", ss)
		w.SetInt64s("i", []int64{n})
		w.SetBytes("b", []byte(ss[0]))
		w.SetFloat64s("f", []float64{float64(n) / 2})
		return w
	}
	got, err := fold(t, Chain(SumInt64("n"), Concat("s"), Concat("i"), Concat("b"), Concat("f")), mk(1, "x"), mk(2, "y", "z"), mk(4, "w"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := got.Int64("n")
	s, _ := got.Strings("s")
	i, _ := got.Int64s("i")
	b, _ := got.Bytes("b")
	f, _ := got.Float64s("f")
	if n != 7 || !reflect.DeepEqual(s, []string{"x", "y", "z", "w"}) || !reflect.DeepEqual(i, []int64{1, 2, 4}) || string(b) != "xyw" ||
		!reflect.DeepEqual(f, []float64{0.5, 1, 2}) {
		t.Fatalf("got n=%d s=%q i=%v b=%q f=%v", n, s, i, b, f)
	}
	bad := warehouse.New()
	bad.SetFloat64("s", 1)
	if _, err := fold(t, Concat("s"), bad); err == nil {
		t.Fatal("Concat accepted a float64")
	}
}
