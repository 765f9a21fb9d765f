// Command fourexec runs a program on the lines of files across fourinone
// workers, Hadoop-streaming style, and prints its outputs in input order.
//
//	fourexec [-park URL] [-workers N] [-cmd 'PROGRAM ARGS'] [-part-size BYTES] [-q] FILE...
//
// Without -park it starts an embedded park server and N in-process exec
// workers running -cmd. With -park the workmen run their own -cmd
// (workman -type exec -cmd '...'); fourexec's -cmd, if given, must be
// theirs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/fourinone-go/fourinone/examples/exec"
	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/internal/cmdflag"
)

func main() {
	fs := flag.NewFlagSet("fourexec", flag.ContinueOnError)
	tf := team.NewFlags(fs, 2)
	var o exec.Options
	fs.StringVar(&o.Cmd, "cmd", "", "the program and its arguments, run with sh -c for each task")
	fs.Int64Var(&o.PartSize, "part-size", 1<<20, "bytes of input per task (split at line ends)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: fourexec [flags] FILE...")
		fs.PrintDefaults()
	}
	cmdflag.Parse(fs, os.Args[1:])
	if fs.NArg() == 0 {
		team.Exit("fourexec", fmt.Errorf("%w: no files", team.ErrUsage))
	}
	tf.Run("fourexec", func(ctx context.Context, to team.Options) error {
		o.Options, o.Workers = to, tf.Workers
		if o.Park == "" && o.Cmd == "" {
			return fmt.Errorf("%w: -cmd is needed for the embedded workers", team.ErrUsage)
		}
		return exec.Stream(ctx, o, os.Stdout, fs.Args()...)
	})
}
