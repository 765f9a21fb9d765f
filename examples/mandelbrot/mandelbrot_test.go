package mandelbrot

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/codec"
	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/warehouse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDistributedEqualsLocal: the image rendered in bands by two workers
// is the one-goroutine render pixel for pixel, also after a PNG round trip.
func TestDistributedEqualsLocal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v := Whole(301, 203, 300)
	got, err := Run(ctx, team.Options{}, 2, v, 7) // bands of 29 rows
	if err != nil {
		t.Fatal(err)
	}
	want, err := Local(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, want.Pix) {
		t.Fatal("the distributed render differs from the local one")
	}
	inside := bytes.Count(want.Pix, []byte{0})
	if inside == 0 || inside == len(want.Pix) {
		t.Fatalf("%d of %d pixels inside the set: not a picture of it", inside, len(want.Pix))
	}
	var b bytes.Buffer
	if err := png.Encode(&b, got); err != nil {
		t.Fatal(err)
	}
	back, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	for y := range v.Height {
		for x := range v.Width {
			r1, g1, b1, a1 := back.At(x, y).RGBA()
			r2, g2, b2, a2 := want.At(x, y).RGBA()
			if [4]uint32{r1, g1, b1, a1} != [4]uint32{r2, g2, b2, a2} {
				t.Fatalf("pixel (%d, %d) after PNG: %v, want %v", x, y, back.At(x, y), want.At(x, y))
			}
		}
	}
}

// TestBadInput: tasks and results out of bounds are errors.
func TestBadInput(t *testing.T) {
	v := Whole(10, 10, 10)
	task := func(change func(*Task)) *warehouse.Warehouse {
		t1 := Task{View: v, Row: 0, Rows: 10}
		change(&t1)
		w, err := codec.New(nil, t1)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	for name, in := range map[string]*warehouse.Warehouse{
		"empty":        warehouse.New(),
		"huge width":   task(func(t *Task) { t.View.Width = 1 << 40 }),
		"rows past":    task(func(t *Task) { t.Rows = 11 }),
		"huge row":     task(func(t *Task) { t.Row = math.MaxInt }),
		"negative row": task(func(t *Task) { t.Row = -1 }),
		"huge iter":    task(func(t *Task) { t.View.MaxIter = 1 << 40 }),
	} {
		if _, err := Worker().DoTask(context.Background(), in); err == nil {
			t.Errorf("%s task: no error", name)
		}
	}
	c := newCanvas(v)
	for _, p := range []Pixels{{Row: 0, Pix: make([]byte, 30)}, {Row: 3, Pix: make([]byte, 20)}} {
		if err := c.add(p); err != nil {
			t.Fatal(err)
		}
	}
	for name, p := range map[string]Pixels{
		"an overlapping band": {Row: 4, Pix: make([]byte, 20)},
		"a band past the end": {Row: 9, Pix: make([]byte, 20)},
		"part of a row":       {Row: 6, Pix: make([]byte, 15)},
		"a negative row":      {Row: -1, Pix: make([]byte, 10)},
	} {
		if err := c.add(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if c.left != 5 {
		t.Errorf("%d rows left, want 5", c.left)
	}
	if _, err := Run(context.Background(), team.Options{}, 1, v, 11); err == nil {
		t.Error("more bands than rows: no error")
	}
}
