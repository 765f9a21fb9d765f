// Package paramserver trains a logistic regression the way a parameter
// server does (seed 003, ps-lite's roles), with two worker types in one
// job: "ps" workers hold shards of the weight vector by key range;
// "trainer" workers, each with its own shard of generated training data,
// take the weights, compute a gradient and push each ps its slice of it,
// for a number of synchronous steps. A ps applies a step once every
// trainer's gradient for it is in (the barrier), then sends every trainer
// its new shard of the weights.
//
// A ps sums the gradients in trainer order, so the run does the same
// floating-point operations in the same order as Local, the same steps in
// one process: the weights come out bit for bit the same.
package paramserver

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Problem is what to learn and how: the data's shape and generator, and
// the training's steps.
type Problem struct {
	Features int     // weights
	Samples  int     // training samples per trainer
	Seed     uint64  // the data's generator
	Steps    int     // synchronous steps of full-batch gradient descent
	Rate     float64 // learning rate
}

// Limits on a problem, so that a task cannot ask a worker for unbounded
// memory or time.
const (
	MaxFeatures = 1 << 20
	MaxSamples  = 1 << 24
	MaxSteps    = 1 << 20
	MaxCells    = 1 << 26 // samples × features of one trainer
)

func (p Problem) check() error {
	if p.Features < 1 || p.Features > MaxFeatures || p.Samples < 1 || p.Samples > MaxSamples ||
		p.Features*p.Samples > MaxCells || p.Steps < 0 || p.Steps > MaxSteps ||
		math.IsNaN(p.Rate) || math.IsInf(p.Rate, 0) {
		return fmt.Errorf("paramserver: a problem of %d features, %d samples, %d steps at rate %v: out of bounds",
			p.Features, p.Samples, p.Steps, p.Rate)
	}
	return nil
}

// truth is the weights the labels come from.
func (p Problem) truth() []float64 {
	r := rand.New(rand.NewPCG(p.Seed, 0))
	w := make([]float64, p.Features)
	for i := range w {
		w[i] = r.NormFloat64()
	}
	return w
}

// Shard is a set of samples: x row by row, and labels 0 or 1.
type Shard struct {
	X []float64
	Y []float64
}

// Data returns shard i's samples (i < 0: a test set): features standard
// normal, label 1 when the true weights' score plus standard normal noise
// is positive.
func (p Problem) Data(i int) Shard {
	w := p.truth()
	r := rand.New(rand.NewPCG(p.Seed, uint64(i+2))) // truth has stream 0
	s := Shard{X: make([]float64, p.Samples*p.Features), Y: make([]float64, p.Samples)}
	for n := range p.Samples {
		x := s.X[n*p.Features : (n+1)*p.Features]
		score := 0.0
		for j := range x {
			x[j] = r.NormFloat64()
			score += w[j] * x[j]
		}
		if score+r.NormFloat64() > 0 {
			s.Y[n] = 1
		}
	}
	return s
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// Gradient returns the mean gradient of the log loss of w on s.
func Gradient(w []float64, s Shard) []float64 {
	d := len(w)
	g := make([]float64, d)
	m := len(s.Y)
	for n := range m {
		x := s.X[n*d : (n+1)*d]
		z := 0.0
		for j, xj := range x {
			z += w[j] * xj
		}
		e := sigmoid(z) - s.Y[n]
		for j, xj := range x {
			g[j] += e * xj
		}
	}
	for j := range g {
		g[j] /= float64(m)
	}
	return g
}

// Accuracy is the share of s's samples w labels right.
func Accuracy(w []float64, s Shard) float64 {
	d := len(w)
	right := 0
	for n, y := range s.Y {
		z := 0.0
		for j, xj := range s.X[n*d : (n+1)*d] {
			z += w[j] * xj
		}
		if (z > 0) == (y == 1) {
			right++
		}
	}
	return float64(right) / float64(len(s.Y))
}

// Range returns the keys [lo, hi) of shard i of n of d weights.
func Range(d, n, i int) (lo, hi int) { return d * i / n, d * (i + 1) / n }

// step applies one step to the weights w[lo:hi] from the trainers'
// gradients of that slice, summed in trainer order.
func step(w []float64, grads [][]float64, rate float64) {
	for j := range w {
		sum := 0.0
		for _, g := range grads {
			sum += g[j]
		}
		w[j] -= rate * sum / float64(len(grads))
	}
}

// Local trains on trainers shards in one process, ps by ps as the
// distributed run does, and returns the weights.
func Local(p Problem, trainers, servers int) ([]float64, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	shards := make([]Shard, trainers)
	for t := range shards {
		shards[t] = p.Data(t)
	}
	w := make([]float64, p.Features)
	for range p.Steps {
		grads := make([][]float64, trainers)
		for t, s := range shards {
			grads[t] = Gradient(w, s)
		}
		next := make([]float64, len(w))
		copy(next, w)
		for i := range servers {
			lo, hi := Range(p.Features, servers, i)
			shard := make([][]float64, trainers)
			for t, g := range grads {
				shard[t] = g[lo:hi]
			}
			step(next[lo:hi], shard, p.Rate)
		}
		w = next
	}
	return w, nil
}
