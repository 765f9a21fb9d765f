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
	"iter"

	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of rendering workmen.
const Type = "mandelbrot"

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
	if row < 0 || rows < 1 || row > v.Height || rows > v.Height-row || v.Width*rows > MaxPixels {
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

// Task is a band of rows of a View to render.
type Task struct {
	View      View
	Row, Rows int
}

// Pixels is a band rendered: its first row and its palette indexes, row
// by row.
type Pixels struct {
	Row int
	Pix []byte
}

// Worker returns the rendering Worker: a Task in, its Pixels out.
func Worker() workman.Worker {
	return workman.Func(func(ctx context.Context, t Task) (Pixels, error) {
		pix, err := Band(ctx, t.View, t.Row, t.Rows)
		return Pixels{Row: t.Row, Pix: pix}, err
	})
}

// Tasks cuts v into bands (as equal as they come) of rows, one task each.
func Tasks(v View, bands int) iter.Seq[Task] {
	return func(yield func(Task) bool) {
		for i := range bands {
			row, end := v.Height*i/bands, v.Height*(i+1)/bands
			if end > row && !yield(Task{View: v, Row: row, Rows: end - row}) {
				return
			}
		}
	}
}

// canvas is an image being put together from bands, each row once.
type canvas struct {
	img  *image.Paletted
	done []bool // by row
	left int    // rows not done
}

func newCanvas(v View) *canvas {
	return &canvas{img: image.NewPaletted(image.Rect(0, 0, v.Width, v.Height), Palette), done: make([]bool, v.Height), left: v.Height}
}

// add puts a band in place: whole rows, inside the image, none twice.
func (c *canvas) add(p Pixels) error {
	w := c.img.Rect.Dx()
	rows := len(p.Pix) / w
	if len(p.Pix) == 0 || len(p.Pix)%w != 0 || p.Row < 0 || p.Row > len(c.done)-rows {
		return fmt.Errorf("mandelbrot: a band of %d bytes at row %d is not whole rows of the image", len(p.Pix), p.Row)
	}
	for r := p.Row; r < p.Row+rows; r++ {
		if c.done[r] {
			return fmt.Errorf("mandelbrot: row %d came twice", r)
		}
		c.done[r] = true
	}
	c.left -= rows
	copy(c.img.Pix[p.Row*w:], p.Pix)
	return nil
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
