package combiner_test

import (
	"fmt"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/warehouse"
)

// Each worker's result is folded into the accumulator as it arrives: here
// the word counts of two tasks are summed and their lines concatenated.
func Example() {
	result := func(line string, counts map[string]int64) *warehouse.Warehouse {
		w := warehouse.New()
		w.SetCounts("counts", counts)
		w.SetStrings("lines", []string{line})
		return w
	}
	c := combiner.Chain(combiner.SumCounts("counts"), combiner.Concat("lines"))
	acc := warehouse.New()
	for _, r := range []*warehouse.Warehouse{
		result("to be", map[string]int64{"to": 1, "be": 1}),
		result("or not to be", map[string]int64{"or": 1, "not": 1, "to": 1, "be": 1}),
	} {
		var err error
		if acc, err = c.Combine(acc, r); err != nil {
			fmt.Println(err)
			return
		}
	}
	counts, _ := acc.Counts("counts")
	lines, _ := acc.Strings("lines")
	fmt.Println(counts["to"], counts["be"], counts["not"], lines)
	// Output: 2 2 1 [to be or not to be]
}
