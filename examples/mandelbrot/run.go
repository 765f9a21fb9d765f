package mandelbrot

import (
	"context"
	"fmt"
	"image"

	"github.com/fourinone-go/fourinone/examples/internal/team"
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
	acc, err := t.Foreman.Run(ctx, t.Workers[Type], Splitter(v, bands), Combiner(), t.RunOptions("mandelbrot")...)
	if err != nil {
		return nil, err
	}
	return Image(v, acc)
}
