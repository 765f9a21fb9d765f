package mandelbrot

import (
	"context"
	"fmt"
	"image"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/foreman"
)

// Run renders v in bands on workers numbers of workers where o says.
func Run(ctx context.Context, o team.Options, workers int, v View, bands int) (*image.Paletted, error) {
	if err := v.check(); err != nil {
		return nil, err
	}
	if bands < 1 || bands > v.Height || v.Width*((v.Height+bands-1)/bands) > MaxPixels {
		return nil, fmt.Errorf("mandelbrot: %d bands of an image %d rows high: want 1 to %d, each at most %d pixels", bands, v.Height, v.Height, MaxPixels)
	}
	t, err := team.Open(ctx, o, team.Need{Type: Type, N: workers, Worker: Worker})
	if err != nil {
		return nil, fmt.Errorf("mandelbrot: %w", err)
	}
	defer t.Close()
	c := newCanvas(v)
	err = foreman.Map(ctx, t.Foreman, t.Workers[Type], Tasks(v, bands), func(_ int, p Pixels) error { return c.add(p) },
		t.RunOptions("mandelbrot")...)
	if err == nil && c.left != 0 {
		err = fmt.Errorf("mandelbrot: %d rows never came", c.left)
	}
	if err != nil {
		return nil, err
	}
	return c.img, nil
}
