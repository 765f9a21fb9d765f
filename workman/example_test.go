package workman_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/workman"
)

// A workman of type "upper" running a typed worker, and a foreman calling
// it once. In production the workman is a process of its own
// (workman.Run until SIGTERM), on a machine of its own.
func ExampleFunc() {
	ctx := context.Background()
	park, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	if err := park.Start(ctx); err != nil {
		panic(err)
	}
	defer park.Shutdown(ctx)

	upper := workman.Func(func(ctx context.Context, s string) (string, error) {
		return strings.ToUpper(s), nil
	})
	wm, err := workman.New(workman.Config{Type: "upper", ParkURL: park.ClientURL()}, upper)
	if err != nil {
		panic(err)
	}
	if err := wm.Start(ctx); err != nil {
		panic(err)
	}
	defer wm.Shutdown(ctx)

	f, err := foreman.Dial(ctx, park.ClientURL(), foreman.Config{})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ws, err := f.WaitWorkers(wctx, "upper", 1)
	if err != nil {
		panic(err)
	}
	out, err := foreman.Do[string, string](ctx, ws[0], "it was the best of times")
	fmt.Println(out, err)
	// Output: IT WAS THE BEST OF TIMES <nil>
}
