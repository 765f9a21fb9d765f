package foreman_test

import (
	"context"
	"fmt"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// sumSquares is a Worker: the sum of n*n over its task's [lo, hi).
var sumSquares = workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	lo, _ := in.Int64(splitter.KeyLo)
	hi, _ := in.Int64(splitter.KeyHi)
	var sum int64
	for n := lo; n < hi; n++ {
		sum += n * n
	}
	out := warehouse.New()
	out.SetInt64("sq", sum)
	return out, nil
})

// A whole job in one program: a park server, two workmen and a foreman
// that splits [0, 1000) into 100 tasks and sums the results. In
// production each runs in its own process, on its own machine.
func Example() {
	ctx := context.Background()
	park, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	if err := park.Start(ctx); err != nil {
		panic(err)
	}
	defer park.Shutdown(ctx)
	for range 2 {
		wm, err := workman.New(workman.Config{Type: "squares", ParkURL: park.ClientURL()}, sumSquares)
		if err != nil {
			panic(err)
		}
		if err := wm.Start(ctx); err != nil {
			panic(err)
		}
		defer wm.Shutdown(ctx)
	}

	f, err := foreman.Dial(ctx, park.ClientURL(), foreman.Config{})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, err := f.WaitWorkers(wctx, "squares", 2)
	if err != nil {
		panic(err)
	}
	res, err := f.Run(ctx, ws, splitter.IntRange(0, 1000, 10), combiner.SumInt64("sq"))
	if err != nil {
		panic(err)
	}
	sq, _ := res.Int64("sq")
	fmt.Println(len(ws), "workers, sum of squares below 1000:", sq)
	// Output: 2 workers, sum of squares below 1000: 332833500
}
