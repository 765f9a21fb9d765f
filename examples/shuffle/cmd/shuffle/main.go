// Command shuffle counts the words of text files with fourinone workers
// that shuffle their counts to each other (worker to worker) and return
// only the words they own.
//
//	shuffle [-park URL] [-workers N] [-part-size BYTES] [-top N] [-q] FILE...
//
// Without -park it starts an embedded park server and N in-process
// workmen. Output as wordcount's: "count<TAB>word" lines, count
// descending, then word ascending.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/examples/shuffle"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
)

func main() {
	fs := flag.NewFlagSet("shuffle", flag.ContinueOnError)
	tf := team.NewFlags(fs, 3)
	partSize := fs.Int64("part-size", wordcount.DefaultPartSize, "bytes of text per range")
	top := fs.Int("top", 0, "print only the N most frequent words (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shuffle [flags] FILE...")
		fs.PrintDefaults()
	}
	cmdflag.Parse(fs, os.Args[1:])
	if fs.NArg() == 0 || *top < 0 || *partSize < 1 {
		fs.Usage()
		os.Exit(2)
	}
	tf.Run("shuffle", func(ctx context.Context, o team.Options) error {
		counts, err := shuffle.Count(ctx, o, tf.Workers, *partSize, fs.Args()...)
		if err != nil {
			return err
		}
		return wordcount.Write(os.Stdout, counts, *top)
	})
}
