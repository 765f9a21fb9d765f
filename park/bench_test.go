package park_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/fourinone-go/fourinone/park"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
)

// BenchmarkLock times an uncontended Lock and Unlock, and the node
// operations it is made of, on one park server.
func BenchmarkLock(b *testing.B) {
	p := parktest.StartPark(b, parkserver.Config{})
	c := client(b, p.ClientURL(), park.Options{})
	ctx := context.Background()
	b.Run("lock+unlock", func(b *testing.B) {
		for b.Loop() {
			l, err := c.Lock(ctx, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	i := 0
	b.Run("create+delete ephemeral", func(b *testing.B) {
		for b.Loop() {
			i++
			name := strconv.Itoa(i)
			if _, err := c.Create(ctx, "bench-eph", name, nil, park.Ephemeral()); err != nil {
				b.Fatal(err)
			}
			if err := c.Delete(ctx, "bench-eph", name); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create+delete", func(b *testing.B) {
		for b.Loop() {
			i++
			name := strconv.Itoa(i)
			if _, err := c.Create(ctx, "bench-node", name, nil); err != nil {
				b.Fatal(err)
			}
			if err := c.Delete(ctx, "bench-node", name); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := c.Create(ctx, "bench-list", "n", nil); err != nil {
		b.Fatal(err)
	}
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.List(ctx, "bench-list"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Update(ctx, "bench-list", "n", []byte("v")); err != nil {
				b.Fatal(err)
			}
		}
	})
}
