package jobcenter_test

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/workman"
	"github.com/nats-io/nats.go"
)

// A typed Work type, "lengths": its input is a list of words, one task
// per word on workers that measure it, and its result the total length.
// The park, a workman, a contractor and the client are in one program
// here; in production each is a process, and a Work outlives all of them
// but the park.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())

	measure := workman.Func(func(_ context.Context, w string) (int, error) { return len(w), nil })
	wm, err := workman.New(workman.Config{Type: "lengths", ParkURL: srv.ClientURL()}, measure)
	if err != nil {
		panic(err)
	}
	if err := wm.Start(ctx); err != nil {
		panic(err)
	}
	defer wm.Shutdown(context.Background())

	// The contractor: a foreman that runs the Works of its type.
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	f, err := foreman.New(ctx, nc, foreman.Config{})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	def := jobcenter.Define("lengths",
		func(_ context.Context, words []string) (iter.Seq[string], error) { return slices.Values(words), nil },
		func(total, n int) (int, error) { return total + n, nil })
	c, err := jobcenter.NewContractor(ctx, nc, f, def, jobcenter.ContractorConfig{})
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve(ctx) }()
	defer func() { cancel(); <-served }()

	// The client: submit a Work, wait for its result.
	client, err := jobcenter.New(ctx, nc)
	if err != nil {
		panic(err)
	}
	words := strings.Fields("it was the best of times it was the worst of times")
	id, err := jobcenter.SubmitValue(ctx, client, jobcenter.Work{Type: "lengths", Durable: true}, words)
	if err != nil {
		panic(err)
	}
	total, err := jobcenter.WaitValue[int](ctx, client, id)
	fmt.Println(total, err)
	// Output: 39 <nil>
}
