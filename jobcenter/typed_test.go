package jobcenter_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"strings"
	"testing"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/jobcenter"
	"github.com/fourinone-go/fourinone/parkserver"
	"github.com/fourinone-go/fourinone/parkserver/parktest"
	"github.com/fourinone-go/fourinone/workman"
)

// corpus is a typed Work's input, and histogram its result.
type corpus struct {
	Texts []string
	Lower bool
}

type histogram struct {
	Counts map[string]int
	Texts  int
}

// countWords is the typed worker: the words of one text.
var countWords = workman.Func(func(ctx context.Context, text string) (map[string]int, error) {
	m := map[string]int{}
	for _, w := range strings.Fields(text) {
		m[w]++
	}
	return m, nil
})

// histogramDef: a corpus's texts lowered (if asked), one task each; the
// counts summed.
var histogramDef = jobcenter.Define("histogram",
	func(ctx context.Context, in corpus) (iter.Seq[string], error) {
		if len(in.Texts) == 0 {
			return nil, errors.New("no texts")
		}
		return func(yield func(string) bool) {
			for _, t := range in.Texts {
				if in.Lower {
					t = strings.ToLower(t)
				}
				if !yield(t) {
					return
				}
			}
		}, nil
	},
	func(acc histogram, counts map[string]int) (histogram, error) {
		if acc.Counts == nil {
			acc.Counts = map[string]int{}
		}
		for w, n := range counts {
			acc.Counts[w] += n
		}
		acc.Texts++
		return acc, nil
	})

func TestTypedWork(t *testing.T) {
	p := parktest.StartPark(t, parkserver.Config{})
	url := p.ClientURL()
	for range 2 {
		parktest.StartWorkman(t, url, workman.Config{Type: "histogram", Capacity: 2}, countWords)
	}
	_, client := connect(t, url)
	f := parktest.NewForeman(t, url, foreman.Config{})
	nc, err := wire.Connect(url, wire.ConnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	def := histogramDef
	def.Workers = 2
	c, err := jobcenter.NewContractor(ctx, nc, f, def, jobcenter.ContractorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	var in corpus
	want := map[string]int{}
	for i := range 40 {
		text := strings.Repeat(fmt.Sprintf("Word%d ", i%7), i) + "the THE end"
		in.Texts = append(in.Texts, text)
		for _, w := range strings.Fields(strings.ToLower(text)) {
			want[w]++
		}
	}
	in.Lower = true
	id, err := jobcenter.SubmitValue(ctx, client, jobcenter.Work{Type: "histogram", Durable: true}, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := jobcenter.WaitValue[histogram](ctx, client, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Texts != len(in.Texts) || !maps.Equal(got.Counts, want) {
		t.Fatalf("got %d texts, counts %v; want %d, %v", got.Texts, got.Counts, len(in.Texts), want)
	}

	// A chain: "total" takes the histogram before it and sums its counts
	// (on workers that double each and a fold that halves them).
	parktest.StartWorkman(t, url, workman.Config{Type: "total"}, workman.Func(func(_ context.Context, n int) (int, error) { return 2 * n, nil }))
	total := jobcenter.Define("total",
		func(_ context.Context, h histogram) (iter.Seq[int], error) { return maps.Values(h.Counts), nil },
		func(acc int, n int) (int, error) { return acc + n/2, nil })
	c2, err := jobcenter.NewContractor(ctx, nc, f, total, jobcenter.ContractorConfig{})
	if err != nil {
		t.Fatal(err)
	}
	done2 := make(chan struct{})
	go func() { defer close(done2); _ = c2.Serve(ctx) }()
	defer func() { cancel(); <-done2 }()
	id, err = jobcenter.SubmitValue(ctx, client, jobcenter.Work{Type: "histogram", Next: &jobcenter.Work{Type: "total", ID: "sum-of-counts"}}, in)
	if err != nil {
		t.Fatal(err)
	}
	words := 0
	for _, n := range want {
		words += n
	}
	// Waiting for a chain's first Work gives its last one's result.
	if got, err := jobcenter.WaitValue[int](ctx, client, id); err != nil || got != words {
		t.Fatalf("the chain's total is %d (%v), want %d", got, err, words)
	}

	// An input of the wrong type fails the Work at once, saying so.
	id, err = jobcenter.SubmitValue(ctx, client, jobcenter.Work{Type: "histogram", MaxAttempts: 3}, []string{"not", "a", "corpus"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = jobcenter.WaitValue[histogram](ctx, client, id)
	var we *jobcenter.WorkError
	if !errors.As(err, &we) || !strings.Contains(err.Error(), "does not decode into jobcenter_test.corpus (the sender encoded a []string with compact)") {
		t.Fatalf("wrong input type: %v", err)
	}
	if info, err := client.Status(ctx, id); err != nil || info.Attempts != 1 {
		t.Fatalf("the Work ran %d times (%v), want once", info.Attempts, err)
	}
}
