package foreman_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/workman"
)

// Params is a task's input and Stats its result: any Go values the codec
// takes (structs, slices, maps, times).
type Params struct {
	Lo, Hi int64
}

type Stats struct {
	Count int
	Sum   int64
}

// The typed version of Example: a worker from a function of Params to
// Stats, and a foreman that runs a Params per task and gets the Stats back
// in input order. A worker's error reaches the foreman as a TaskError.
func ExampleCollect() {
	ctx := context.Background()
	park, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	if err := park.Start(ctx); err != nil {
		panic(err)
	}
	defer park.Shutdown(ctx)
	stats := workman.Func(func(ctx context.Context, p Params) (Stats, error) {
		if p.Hi < p.Lo {
			return Stats{}, errors.New("hi below lo")
		}
		var s Stats
		for n := p.Lo; n < p.Hi; n++ {
			s.Count++
			s.Sum += n * n
		}
		return s, nil
	})
	for range 2 {
		wm, err := workman.New(workman.Config{Type: "stats", ParkURL: park.ClientURL()}, stats)
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
	ws, err := f.WaitWorkers(wctx, "stats", 2)
	if err != nil {
		panic(err)
	}
	out, err := foreman.Collect[Params, Stats](ctx, f, ws, []Params{{0, 500}, {500, 1000}})
	if err != nil {
		panic(err)
	}
	fmt.Println(out[0].Count+out[1].Count, "numbers, sum of squares:", out[0].Sum+out[1].Sum)

	_, err = foreman.Collect[Params, Stats](ctx, f, ws, []Params{{10, 0}})
	var te *foreman.TaskError
	fmt.Println(errors.As(err, &te), te.Msg)
	// Output:
	// 1000 numbers, sum of squares: 332833500
	// true hi below lo
}
