// Command search finds the least nonce n for which SHA-256(prefix +
// decimal n) starts with -bits zero bits, with fourinone workers: tasks
// of -step nonces are made without end, and the job stops at the hit.
//
//	search [-park URL] [-workers N] [-prefix S] [-bits N] [-step N] [-local] [-q]
//
// Without -park it starts an embedded park server and N in-process
// workmen, and reports how long after the hit the last worker stopped.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/examples/search"
)

func main() {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	tf := team.NewFlags(fs, 2)
	prefix := fs.String("prefix", "fourinone", "the text before the nonce")
	bits := fs.Int("bits", 24, "leading zero bits of the hash")
	step := fs.Int64("step", 1<<16, "nonces per task")
	local := fs.Bool("local", false, "search on one goroutine, without workers (the reference)")
	team.ParseNoArgs(fs)
	tf.Run("search", func(ctx context.Context, o team.Options) error {
		var res search.Result
		var err error
		if *local {
			start := time.Now()
			res.Nonce, res.Hashes, err = search.Local(ctx, *prefix, *bits)
			res.Took, res.Tasks, res.StopLag = time.Since(start), 1, -1
		} else {
			res, err = search.Run(ctx, o, tf.Workers, *prefix, *bits, *step)
		}
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(*prefix + strconv.FormatInt(res.Nonce, 10)))
		fmt.Printf("%d %x\n", res.Nonce, sum)
		msg := fmt.Sprintf("search: %d hashes in %d tasks, %v (%.1f M hashes/s)", res.Hashes, res.Tasks,
			res.Took.Round(time.Millisecond), float64(res.Hashes)/res.Took.Seconds()/1e6)
		if res.StopLag >= 0 {
			msg += fmt.Sprintf("; the last worker stopped %v after the hit", res.StopLag.Round(10*time.Microsecond))
		}
		fmt.Fprintln(os.Stderr, msg)
		return nil
	})
}
