// Command terasort sorts a file of 100-byte records by key with fourinone
// workers, TeraSort-shaped, or generates such a file.
//
//	terasort -gen N [-seed S] FILE
//	terasort [-park URL] [-workers N] [-out DIR] [-local] [-q] FILE
//
// Sorting writes one sorted file per range, DIR/part-00000 and on (DIR
// defaults to FILE.sorted), and prints each part's path and records; the
// parts concatenated in order are FILE sorted, as `LC_ALL=C sort FILE`
// prints it. -local sorts in this process into DIR/part-00000. Without
// -park it starts an embedded park server and N in-process workmen.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/examples/terasort"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
)

func main() {
	fs := flag.NewFlagSet("terasort", flag.ContinueOnError)
	tf := team.NewFlags(fs, 2)
	gen := fs.Int64("gen", 0, "write this many records to FILE instead of sorting")
	seed := fs.Uint64("seed", 1, "with -gen: the generator's seed")
	out := fs.String("out", "", "the directory of the sorted parts (blank: FILE.sorted)")
	local := fs.Bool("local", false, "sort in this process, without workers (the reference)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: terasort [flags] FILE")
		fs.PrintDefaults()
	}
	cmdflag.Parse(fs, os.Args[1:])
	if fs.NArg() != 1 || *gen < 0 {
		fs.Usage()
		os.Exit(2)
	}
	file := fs.Arg(0)
	if *gen > 0 {
		team.Exit("terasort", generate(file, *gen, *seed))
	}
	if *out == "" {
		*out = file + ".sorted"
	}
	tf.Run("terasort", func(ctx context.Context, o team.Options) error {
		return sortFile(ctx, o, tf.Workers, file, *out, *local)
	})
}

func generate(file string, n int64, seed uint64) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := terasort.Generate(f, n, seed); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sortFile(ctx context.Context, o team.Options, workers int, file, out string, local bool) error {
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	start := time.Now()
	var parts []terasort.Part
	if local {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		p := filepath.Join(out, terasort.PartName(0))
		if err := terasort.Local(file, p); err != nil {
			return err
		}
		parts = []terasort.Part{{Path: p, Records: st.Size() / terasort.RecordSize}}
	} else if parts, err = terasort.Run(ctx, o, workers, file, out); err != nil {
		return err
	}
	took := time.Since(start)
	for _, p := range parts {
		fmt.Printf("%s\t%d\n", p.Path, p.Records)
	}
	fmt.Fprintf(os.Stderr, "terasort: %d MB in %v, %.0f MB/s\n", st.Size()/1e6, took.Round(time.Millisecond), float64(st.Size())/1e6/took.Seconds())
	return nil
}
