package codec_test

import (
	"fmt"
	"time"

	"github.com/fourinone-go/fourinone/codec"
)

type Params struct {
	Name    string
	Weights []float64
	Since   time.Time
}

// A value in a Warehouse and back, as the typed API carries tasks and
// results; a value of another type is an error naming both.
func ExampleValue() {
	w, err := codec.New(nil, Params{Name: "run 7", Weights: []float64{0.5, 1.5}, Since: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		panic(err)
	}
	fmt.Println(w.Keys())
	c, _ := w.String(codec.KeyCodec)
	fmt.Println(c)
	p, err := codec.Value[Params](w)
	fmt.Println(p.Name, p.Weights, p.Since.Format(time.DateOnly), err)

	_, err = codec.Value[[]string](w)
	fmt.Println(err)
	// Output:
	// [codec value]
	// compact codec_test.Params
	// run 7 [0.5 1.5] 2026-12-06 <nil>
	// codec: "value" does not decode into []string (the sender encoded a codec_test.Params with compact): codec: cannot decode a struct into []string
}
