// Command paramserver trains a logistic regression on fourinone workers of
// two types: parameter servers holding shards of the weights and
// trainers holding shards of the data, in synchronous steps.
//
//	paramserver [-park URL] [-servers N] [-trainers N] [-features N] [-samples N] [-steps N] [-rate R] [-seed S] [-by-type] [-q]
//
// Without -park it starts an embedded park server and the workmen
// in-process. It prints the accuracy of the weights on the training data
// and on a test set, and the largest difference from the weights of the
// same steps run in one process.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/examples/paramserver"
)

func main() {
	fs := flag.NewFlagSet("paramserver", flag.ContinueOnError)
	tf := team.NewFlags(fs, 2)
	servers := fs.Int("servers", 2, "parameter servers (ps workers)")
	fs.Lookup("workers").Usage = "trainers (trainer workers)"
	var p paramserver.Problem
	fs.IntVar(&p.Features, "features", 100, "weights")
	fs.IntVar(&p.Samples, "samples", 20000, "training samples per trainer")
	fs.IntVar(&p.Steps, "steps", 100, "synchronous steps")
	fs.Float64Var(&p.Rate, "rate", 0.5, "learning rate")
	fs.Uint64Var(&p.Seed, "seed", 1, "the data's generator")
	byType := fs.Bool("by-type", false, "workers find each other in the registry by type (IndexOfType, ElseOfType): only where no other ps or trainer workers are live")
	team.ParseNoArgs(fs)
	tf.Run("paramserver", func(ctx context.Context, o team.Options) error {
		return train(ctx, o, *servers, tf.Workers, p, *byType)
	})
}

func train(ctx context.Context, o team.Options, servers, trainers int, p paramserver.Problem, byType bool) error {
	start := time.Now()
	w, err := paramserver.Train(ctx, o, servers, trainers, p, byType)
	if err != nil {
		return err
	}
	took := time.Since(start)
	start = time.Now()
	local, err := paramserver.Local(p, trainers, servers)
	if err != nil {
		return err
	}
	tookLocal := time.Since(start)
	diff := 0.0
	for i := range w {
		diff = max(diff, math.Abs(w[i]-local[i]))
	}
	trainAcc := 0.0
	for t := range trainers {
		trainAcc += paramserver.Accuracy(w, p.Data(t)) / float64(trainers)
	}
	fmt.Printf("train accuracy %.4f, test accuracy %.4f\n", trainAcc, paramserver.Accuracy(w, p.Data(-1)))
	fmt.Printf("largest difference from one process: %g\n", diff)
	fmt.Fprintf(os.Stderr, "paramserver: %d steps in %v on workers, %v in one process\n", p.Steps, took.Round(time.Millisecond), tookLocal.Round(time.Millisecond))
	return nil
}
