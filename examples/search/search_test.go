package search

import (
	"context"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDistributedEqualsLocal: two workers find the same least nonce as one
// goroutine scanning from 0, the endless job stops (Run returns), and every
// running task returns once cancelled. (How many tasks finish before the
// hit is confirmed depends on timing: a first task waits for its worker's
// connection while the other worker runs dozens of others.)
func TestDistributedEqualsLocal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, bits := range []int{1, 12, 17} {
		want, _, err := Local(ctx, "fourinone test", bits)
		if err != nil {
			t.Fatal(err)
		}
		const step = 1000
		res, err := Run(ctx, team.Options{}, 2, "fourinone test", bits, step)
		if err != nil {
			t.Fatal(err)
		}
		if res.Nonce != want {
			t.Fatalf("%d bits: workers found %d, one goroutine %d", bits, res.Nonce, want)
		}
		if _, hit := Hit(nil, "fourinone test", res.Nonce, bits); !hit {
			t.Fatalf("%d bits: %d is no hit", bits, res.Nonce)
		}
		if res.StopLag < 0 {
			t.Fatalf("%d bits: the running tasks did not all return after the hit", bits)
		}
	}
}

// TestFound: the least hit is final only once every range below it is
// done, whatever order results come in.
func TestFound(t *testing.T) {
	f := NewFound(10)
	c := f.Combiner()
	add := func(lo, nonce int64) {
		t.Helper()
		r := warehouse.New()
		r.SetInt64(splitter.KeyLo, lo)
		r.SetInt64(KeyNonce, nonce)
		r.SetInt64(KeyHashes, 10)
		if _, err := c.Combine(warehouse.New(), r); err != nil {
			t.Fatal(err)
		}
	}
	add(30, 35)
	add(0, -1)
	if f.Final(nil) {
		t.Fatal("final with ranges 10 and 20 not done")
	}
	add(20, 21)
	add(10, -1)
	if !f.Final(nil) || f.Nonce != 21 {
		t.Fatalf("final %v with nonce %d, want 21", f.Final(nil), f.Nonce)
	}
	for name, lonce := range map[string][2]int64{"a nonce outside its range": {40, 55}, "a range off the grid": {43, -1}} {
		r := warehouse.New()
		r.SetInt64(splitter.KeyLo, lonce[0])
		r.SetInt64(KeyNonce, lonce[1])
		r.SetInt64(KeyHashes, 1)
		if _, err := c.Combine(warehouse.New(), r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Worker().DoTask(context.Background(), warehouse.New()); err == nil {
		t.Error("an empty task: no error")
	}
}
