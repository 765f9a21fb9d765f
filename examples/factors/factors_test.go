package factors

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/warehouse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFactorsAsTheSeedDefines: Factors is the seed's factors_of, every x
// in 2..n/2 that divides n, checked by brute force.
func TestFactorsAsTheSeedDefines(t *testing.T) {
	for n := int64(1); n <= 3000; n++ {
		var want []int64
		for x := int64(2); x <= n/2; x++ {
			if n%x == 0 {
				want = append(want, x)
			}
		}
		got, err := Factors(context.Background(), n)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("Factors(%d) = %v, %v; want %v", n, got, err, want)
		}
	}
	// A prime past 2^32 and a square of one: the trial division's edges.
	for n, want := range map[int64][]int64{
		4294967311:           nil,
		4294967311 * 2:       {2, 4294967311},
		65537 * 65537:        {65537},
		1 << 40:              nil, // filled below
		999999000001 * 1_000: nil, // checked by count only
	} {
		got, err := Factors(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		switch n {
		case 1 << 40:
			if len(got) != 39 || got[0] != 2 || got[38] != 1<<39 {
				t.Fatalf("Factors(2^40) = %v", got)
			}
		case 999999000001 * 1_000:
			// 999999000001 is prime: (1+1)(3+1)(3+1) divisors of 2^3 5^3 p, less 1 and n.
			if len(got) != 2*4*4-2 {
				t.Fatalf("Factors(%d) has %d factors, want 30", n, len(got))
			}
		default:
			if !slices.Equal(got, want) {
				t.Fatalf("Factors(%d) = %v, want %v", n, got, want)
			}
		}
	}
	if _, err := Factors(context.Background(), 0); err == nil {
		t.Fatal("Factors(0): no error")
	}
}

// TestDistributedEqualsLocal: the range factored by two workers prints
// exactly what one goroutine prints.
func TestDistributedEqualsLocal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const from, to = 10_000_000, 10_001_000
	ns, err := Run(ctx, team.Options{}, 2, from, to, 37)
	if err != nil {
		t.Fatal(err)
	}
	local, err := Local(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	var got, want bytes.Buffer
	if err := Write(&got, ns); err != nil {
		t.Fatal(err)
	}
	if err := Write(&want, local); err != nil {
		t.Fatal(err)
	}
	if len(ns) != to-from || got.String() != want.String() {
		t.Fatalf("distributed output (%d numbers, %d bytes) differs from the local one (%d bytes)", len(ns), got.Len(), want.Len())
	}
	if _, err := Run(ctx, team.Options{}, 2, 0, 10, 1); err == nil {
		t.Fatal("a range from 0: no error")
	}
}

// TestBadTasks: a task without a sane range is an error, not a panic or a
// huge allocation; so is one that is not a Range.
func TestBadTasks(t *testing.T) {
	w := Worker()
	for name, r := range map[string]Range{
		"backwards": {10, 5},
		"zero":      {0, 5},
		"huge":      {1, 1 << 62},
	} {
		in, err := codec.New(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.DoTask(context.Background(), in); err == nil || !strings.Contains(err.Error(), "a task needs a range") {
			t.Errorf("%s task: %v", name, err)
		}
	}
	if _, err := w.DoTask(context.Background(), warehouse.New()); err == nil {
		t.Error("an empty task: no error")
	}
}

func TestRanges(t *testing.T) {
	if got := slices.Collect(Ranges(3, 10, 3)); !slices.Equal(got, []Range{{3, 6}, {6, 9}, {9, 10}}) {
		t.Fatalf("Ranges(3, 10, 3) = %v", got)
	}
}
