// Command mandelbrot renders the Mandelbrot set with fourinone workers,
// one task per band of rows, and writes it as a PNG.
//
//	mandelbrot [-park URL] [-workers N] [-width W] [-height H] [-maxiter N] [-bands N] [-local] [-o FILE] [-q]
//
// Without -park it starts an embedded park server and N in-process
// workmen. -local renders on one goroutine without workers.
package main

import (
	"context"
	"flag"
	"image"
	"image/png"
	"os"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/examples/mandelbrot"
)

func main() {
	fs := flag.NewFlagSet("mandelbrot", flag.ContinueOnError)
	tf := team.NewFlags(fs, 2)
	width := fs.Int("width", 1200, "image width in pixels")
	height := fs.Int("height", 800, "image height in pixels")
	maxIter := fs.Int("maxiter", 1000, "iterations before a point counts as inside the set")
	bands := fs.Int("bands", 40, "tasks: bands of rows")
	local := fs.Bool("local", false, "render on one goroutine, without workers (the reference)")
	out := fs.String("o", "mandelbrot.png", "the PNG to write")
	team.ParseNoArgs(fs)
	v := mandelbrot.Whole(*width, *height, *maxIter)
	tf.Run("mandelbrot", func(ctx context.Context, o team.Options) error {
		var img *image.Paletted
		var err error
		if *local {
			img, err = mandelbrot.Local(ctx, v)
		} else {
			img, err = mandelbrot.Run(ctx, o, tf.Workers, v, *bands)
		}
		if err != nil {
			return err
		}
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		if err := png.Encode(f, img); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
}
