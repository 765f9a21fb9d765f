package splitter_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
)

// A job over [0, 25) in tasks of 10 numbers: each task is a Warehouse with
// the range's KeyLo and KeyHi.
func ExampleIntRange() {
	err := splitter.IntRange(0, 25, 10).Split(context.Background(), func(task *warehouse.Warehouse) error {
		lo, _ := task.Int64(splitter.KeyLo)
		hi, _ := task.Int64(splitter.KeyHi)
		fmt.Printf("[%d, %d)\n", lo, hi)
		return nil
	})
	fmt.Println(err)
	// Output:
	// [0, 10)
	// [10, 20)
	// [20, 25)
	// <nil>
}

// Tasks from any sequence, taken lazily: the foreman asks for the next
// only when a worker's slot is free.
func ExampleSeq() {
	words := slices.Values([]string{"alpha", "beta", "gamma"})
	tasks := func(yield func(*warehouse.Warehouse) bool) {
		for w := range words {
			t := warehouse.New()
			t.SetString("word", w)
			if !yield(t) {
				return
			}
		}
	}
	n := 0
	_ = splitter.Seq(tasks).Split(context.Background(), func(task *warehouse.Warehouse) error {
		w, _ := task.String("word")
		fmt.Println(n, w)
		n++
		return nil
	})
	// Output:
	// 0 alpha
	// 1 beta
	// 2 gamma
}
