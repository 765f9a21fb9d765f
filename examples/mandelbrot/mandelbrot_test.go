package mandelbrot

import (
	"bytes"
	"context"
	"image/png"
	"testing"
	"time"

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
	task := func(set func(*warehouse.Warehouse)) *warehouse.Warehouse {
		var w *warehouse.Warehouse
		_ = Splitter(v, 1).Split(context.Background(), func(t *warehouse.Warehouse) error { w = t; return nil })
		set(w)
		return w
	}
	for name, in := range map[string]*warehouse.Warehouse{
		"empty":        warehouse.New(),
		"huge width":   task(func(w *warehouse.Warehouse) { w.SetInt64(KeyWidth, 1<<40) }),
		"rows past":    task(func(w *warehouse.Warehouse) { w.SetInt64(KeyRows, 11) }),
		"negative row": task(func(w *warehouse.Warehouse) { w.SetInt64(KeyRow, -1) }),
		"huge iter":    task(func(w *warehouse.Warehouse) { w.SetInt64(KeyMaxIter, 1<<40) }),
	} {
		if _, err := Worker().DoTask(context.Background(), in); err == nil {
			t.Errorf("%s task: no error", name)
		}
	}
	acc := warehouse.New()
	acc.SetBytes(bandKey(0), make([]byte, 50))
	if _, err := Image(v, acc); err == nil {
		t.Error("bands missing rows 5 to 9: no error")
	}
	acc.SetBytes(bandKey(5), make([]byte, 50))
	acc.SetBytes(bandKey(3), make([]byte, 20))
	if _, err := Image(v, acc); err == nil {
		t.Error("an overlapping band: no error")
	}
	if _, err := Run(context.Background(), team.Options{}, 1, v, 11); err == nil {
		t.Error("more bands than rows: no error")
	}
}
