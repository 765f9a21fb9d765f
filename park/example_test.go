package park_test

import (
	"context"
	"fmt"

	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/security"
)

// Nodes and a lock on a park server: a configuration value written and
// read back, and a section that one holder at a time enters, with a
// fencing token that grows with every holder.
func Example() {
	ctx := context.Background()
	srv, err := parkserver.New(parkserver.Config{Listen: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Shutdown(ctx)

	c, err := park.Dial(ctx, srv.ClientURL(), security.Config{}, park.Options{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if _, err := c.Create(ctx, "app", "db", []byte("postgres://db1")); err != nil {
		panic(err)
	}
	n, err := c.Get(ctx, "app", "db")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s/%s = %s\n", n.Domain, n.Name, n.Value)

	var tokens []uint64
	for range 2 {
		l, err := c.Lock(ctx, "counter")
		if err != nil {
			panic(err)
		}
		tokens = append(tokens, l.Token()) // pass it to what the lock guards
		if err := l.Unlock(ctx); err != nil {
			panic(err)
		}
	}
	fmt.Println("the second holder's token is greater:", tokens[1] > tokens[0])
	// Output:
	// app/db = postgres://db1
	// the second holder's token is greater: true
}
