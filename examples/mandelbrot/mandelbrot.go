// Package mandelbrot renders the Mandelbrot set across workers, one task
// per band of rows (seed 000's embarrassingly parallel example): the
// foreman puts the bands back together into one image, identical pixel
// for pixel to a render in one process.
package mandelbrot

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"strconv"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of rendering workmen.
const Type = "mandelbrot"

// Task and result keys.
const (
	KeyWidth   = "width"   // int64: image width in pixels
	KeyHeight  = "height"  // int64: image height in pixels
	KeyMaxIter = "maxiter" // int64: iterations before a point counts as inside
	KeyX0      = "x0"      // float64: the real part at the left edge
	KeyY0      = "y0"      // float64: the imaginary part at the top edge
	KeyStep    = "step"    // float64: the width of a pixel in the plane
	KeyRow     = "row"     // int64: the band's first row
	KeyRows    = "rows"    // int64: its rows
	KeyPixels  = "pixels"  // []byte: the band's palette indexes, row by row
)

// Limits on one task, so that a task's numbers cannot ask a worker for
// unbounded memory or time.
const (
	MaxPixels  = 1 << 26 // pixels of one band
	MaxIterMax = 1 << 20
	MaxSide    = 1 << 16 // pixels of the image's width or height
)

// View is what to render: the image's size, the iterations, and the part
// of the plane it shows.
type View struct {
	Width, Height, MaxIter int
	// X0, Y0 are the plane's point at the top left pixel; Step the width
	// (and height) of one pixel.
	X0, Y0, Step float64
}

// Whole is the view of the whole set at the size: the real axis from -2.5
// to 1, centred vertically.
func Whole(width, height, maxIter int) View {
	step := 3.5 / float64(width)
	return View{Width: width, Height: height, MaxIter: maxIter, X0: -2.5, Y0: step * float64(height) / 2, Step: step}
}

func (v View) check() error {
	if v.Width < 1 || v.Height < 1 || v.Width > MaxSide || v.Height > MaxSide || v.MaxIter < 1 || v.MaxIter > MaxIterMax {
		return fmt.Errorf("mandelbrot: a view of %dx%d pixels and %d iterations: want 1 to %d pixels a side and 1 to %d iterations",
			v.Width, v.Height, v.MaxIter, MaxSide, MaxIterMax)
	}
	return nil
}

// Palette colours a pixel by its escape iterations: index 0 (black) is
// inside the set, the rest a cycle of 255 colours.
var Palette = func() color.Palette {
	p := color.Palette{color.Black}
	for i := range 255 {
		t := float64(i) / 255
		// A blue-gold gradient, smooth enough to show the bands of escape.
		r := uint8(255 * clamp(9*(1-t)*t*t*t))
		g := uint8(255 * clamp(15*(1-t)*(1-t)*t*t))
		b := uint8(255 * clamp(8.5*(1-t)*(1-t)*(1-t)*t))
		p = append(p, color.RGBA{r, g, b, 255})
	}
	return p
}()

func clamp(x float64) float64 { return max(0, min(1, x)) }

// Band renders rows [row, row+rows) of v: one palette index per pixel, row
// by row. It checks ctx once a row.
func Band(ctx context.Context, v View, row, rows int) ([]byte, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if row < 0 || rows < 1 || row+rows > v.Height || v.Width*rows > MaxPixels {
		return nil, fmt.Errorf("mandelbrot: rows [%d, %d) of an image of %d (at most %d pixels a band)", row, row+rows, v.Height, MaxPixels)
	}
	pix := make([]byte, v.Width*rows)
	for y := range rows {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		ci := v.Y0 - float64(row+y)*v.Step
		line := pix[y*v.Width : (y+1)*v.Width]
		for x := range line {
			line[x] = escape(v.X0+float64(x)*v.Step, ci, v.MaxIter)
		}
	}
	return pix, nil
}

// escape is the palette index of c = cr + ci·i: 0 if z stays within 2 for
// maxIter iterations of z² + c, else 1 + the iterations it took, mod 255.
func escape(cr, ci float64, maxIter int) byte {
	var zr, zi float64
	for n := range maxIter {
		zr2, zi2 := zr*zr, zi*zi
		if zr2+zi2 > 4 {
			return byte(1 + n%255)
		}
		zi = 2*zr*zi + ci
		zr = zr2 - zi2 + cr
	}
	return 0
}

// Worker returns the rendering Worker: a task is a View and a band.
func Worker() workman.Worker {
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		v, row, rows, err := readTask(in)
		if err != nil {
			return nil, err
		}
		pix, err := Band(ctx, v, row, rows)
		if err != nil {
			return nil, err
		}
		out := warehouse.New()
		out.SetInt64(KeyRow, int64(row))
		out.SetBytes(KeyPixels, pix)
		return out, nil
	})
}

func readTask(in *warehouse.Warehouse) (v View, row, rows int, err error) {
	w, ok1 := in.Int64(KeyWidth)
	h, ok2 := in.Int64(KeyHeight)
	it, ok3 := in.Int64(KeyMaxIter)
	r, ok4 := in.Int64(KeyRow)
	n, ok5 := in.Int64(KeyRows)
	x0, ok6 := in.Float64(KeyX0)
	y0, ok7 := in.Float64(KeyY0)
	step, ok8 := in.Float64(KeyStep)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8) {
		return View{}, 0, 0, fmt.Errorf("mandelbrot: a task needs %s, %s, %s, %s, %s, %s, %s and %s",
			KeyWidth, KeyHeight, KeyMaxIter, KeyX0, KeyY0, KeyStep, KeyRow, KeyRows)
	}
	if w > MaxSide || h > MaxSide || it > MaxIterMax || r < 0 || r > MaxSide || n < 0 || n > MaxSide {
		return View{}, 0, 0, fmt.Errorf("mandelbrot: a task out of bounds: %dx%d pixels, %d iterations, rows %d+%d", w, h, it, r, n)
	}
	return View{Width: int(w), Height: int(h), MaxIter: int(it), X0: x0, Y0: y0, Step: step}, int(r), int(n), nil
}

// Splitter cuts v into bands (as equal as they come) of rows, one task each.
func Splitter(v View, bands int) splitter.Splitter {
	var tasks []*warehouse.Warehouse
	for i := range bands {
		row, end := v.Height*i/bands, v.Height*(i+1)/bands
		if end == row {
			continue
		}
		t := warehouse.New()
		t.SetInt64(KeyWidth, int64(v.Width))
		t.SetInt64(KeyHeight, int64(v.Height))
		t.SetInt64(KeyMaxIter, int64(v.MaxIter))
		t.SetFloat64(KeyX0, v.X0)
		t.SetFloat64(KeyY0, v.Y0)
		t.SetFloat64(KeyStep, v.Step)
		t.SetInt64(KeyRow, int64(row))
		t.SetInt64(KeyRows, int64(end-row))
		tasks = append(tasks, t)
	}
	return splitter.Tasks(tasks...)
}

// Combiner keeps each band's pixels under a key of its first row; Image
// puts them together.
func Combiner() combiner.Combiner {
	return combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		row, ok1 := r.Int64(KeyRow)
		pix, ok2 := r.Bytes(KeyPixels)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("mandelbrot: a result without %s and %s", KeyRow, KeyPixels)
		}
		acc.SetBytes(bandKey(row), pix)
		return acc, nil
	})
}

func bandKey(row int64) string { return "band " + strconv.FormatInt(row, 10) }

// Image puts the bands of a combined result together, checking that they
// cover v's rows exactly once.
func Image(v View, acc *warehouse.Warehouse) (*image.Paletted, error) {
	img := image.NewPaletted(image.Rect(0, 0, v.Width, v.Height), Palette)
	used := 0
	for row := 0; row < v.Height; used++ {
		pix, ok := acc.Bytes(bandKey(int64(row)))
		if !ok || len(pix) == 0 || len(pix)%v.Width != 0 || row+len(pix)/v.Width > v.Height {
			return nil, fmt.Errorf("mandelbrot: no band of whole rows starts at row %d", row)
		}
		copy(img.Pix[row*v.Width:], pix)
		row += len(pix) / v.Width
	}
	if acc.Len() != used {
		return nil, fmt.Errorf("mandelbrot: %d bands overlap others", acc.Len()-used)
	}
	return img, nil
}

// Local renders v in one piece on one goroutine: the reference.
func Local(ctx context.Context, v View) (*image.Paletted, error) {
	pix, err := Band(ctx, v, 0, v.Height)
	if err != nil {
		return nil, err
	}
	img := image.NewPaletted(image.Rect(0, 0, v.Width, v.Height), Palette)
	copy(img.Pix, pix)
	return img, nil
}
