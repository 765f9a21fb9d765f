package warehouse_test

import (
	"fmt"

	"github.com/fourinone-go/fourinone/warehouse"
)

// A task's input: typed values under keys, encoded for the wire and
// decoded on the other side.
func Example() {
	in := warehouse.New()
	in.SetString("text", "to be or not to be")
	in.SetInt64("top", 2)
	in.SetFloat64s("weights", []float64{0.5, -1.25})

	b, _ := in.MarshalBinary()
	got, err := warehouse.Decode(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	text, _ := got.String("text")
	top, _ := got.Int64("top")
	weights, _ := got.Float64s("weights")
	_, isInt := got.Int64("text")
	fmt.Println(text, top, weights, isInt)
	fmt.Println(got.Keys())
	// Output:
	// to be or not to be 2 [0.5 -1.25] false
	// [text top weights]
}

// A worker's failure travels as an exception result.
func ExampleNewException() {
	out := warehouse.NewException("worker: file not found")
	fmt.Println(out.Status(), out.Message())
	// Output: exception worker: file not found
}
