// Command factors prints the factors of every integer in a range, found
// by fourinone workers.
//
//	factors [-park URL] [-workers N] [-from N] [-to N] [-step N] [-local] [-q]
//
// Without -park it starts an embedded park server and N in-process
// workmen. Output: "n: f1 f2 ..." lines in order of n, for n in
// [from, to), the factors being the x with 2 <= x <= n/2 that divide n.
package main

import (
	"context"
	"flag"
	"os"

	"github.com/fourinone-go/fourinone/examples/factors"
	"github.com/fourinone-go/fourinone/examples/internal/team"
)

func main() {
	fs := flag.NewFlagSet("factors", flag.ContinueOnError)
	tf := team.NewFlags(fs, 2)
	from := fs.Int64("from", 10_000_000, "first number")
	to := fs.Int64("to", 10_001_000, "one past the last number")
	step := fs.Int64("step", 50, "numbers per task")
	local := fs.Bool("local", false, "factor on one goroutine, without workers (the reference)")
	team.ParseNoArgs(fs)
	tf.Run("factors", func(ctx context.Context, o team.Options) error {
		var ns []factors.Number
		var err error
		if *local {
			ns, err = factors.Local(ctx, *from, *to)
		} else {
			ns, err = factors.Run(ctx, o, tf.Workers, *from, *to, *step)
		}
		if err != nil {
			return err
		}
		return factors.Write(os.Stdout, ns)
	})
}
