// Package shuffle counts words with a shuffle between workers (seed 001,
// the worker-to-worker API): each worker counts its ranges of the text,
// partitions its counts by a hash of the word and sends each partition to
// the worker that owns it with Peer.Receive while every worker is still
// inside its DoTask; each worker then returns only the words it owns, so
// the foreman merges disjoint partitions instead of summing every
// worker's whole vocabulary.
//
// The job is one task per worker, all at once (foreman.DoTasks): a team.
// The task names the team (its workers' ids, in order) and the job, so a
// worker finds its peers with Mesh.Peer and tells one job's partitions
// from another's.
package shuffle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of shuffling word counters.
const Type = "shuffle"

// Keys of tasks and partitions.
const (
	KeyJob     = "job"     // string: the job's id
	KeyTeam    = "team"    // []string: the team's worker ids; a worker owns the words hashed to its index
	KeyIndex   = "index"   // int64: the task's worker's index in the team
	KeyPaths   = "paths"   // []string: the task's ranges' files
	KeyOffsets = "offsets" // []int64: their offsets
	KeyLengths = "lengths" // []int64: their lengths
	KeyFrom    = "from"    // int64: a partition's sender's index
)

// MaxTeam bounds a team, and maxJobs the jobs a worker holds partitions
// for at once; partitions of a job whose task never comes are dropped
// after orphanAfter.
const (
	MaxTeam     = 1 << 10
	maxJobs     = 64
	orphanAfter = 10 * time.Minute
)

// Owner returns the index of the worker of n that owns word (FNV-1a).
func Owner(word string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(word); i++ {
		h ^= uint32(word[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Worker is the shuffling word counter. Its zero value is not usable:
// call NewWorker.
type Worker struct {
	mu   sync.Mutex
	jobs map[string]*job
}

// NewWorker returns a shuffling word counter.
func NewWorker() workman.Worker { return &Worker{jobs: make(map[string]*job)} }

// job is one job's partitions received so far.
type job struct {
	counts  map[string]int64
	from    map[int64]bool // senders heard
	heard   chan struct{}  // closed when want senders are heard
	want    int            // senders to hear: the team less this worker (-1 until the task says)
	over    bool           // the task has taken the counts: later partitions are refused
	started time.Time
}

// get returns the state of job id, made if new; want, if not -1, is the
// number of senders the task says to expect.
func (w *Worker) get(id string, want int) (*job, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.jobs[id]
	if j == nil {
		now := time.Now()
		for id, j := range w.jobs {
			if now.Sub(j.started) > orphanAfter {
				delete(w.jobs, id)
			}
		}
		if len(w.jobs) >= maxJobs {
			return nil, fmt.Errorf("shuffle: partitions of %d jobs held already", maxJobs)
		}
		j = &job{counts: make(map[string]int64), from: make(map[int64]bool), heard: make(chan struct{}), want: -1, started: now}
		w.jobs[id] = j
	}
	if want >= 0 && j.want < 0 {
		j.want = want
		j.check()
	}
	return j, nil
}

// check closes heard once every sender is heard. w.mu is held.
func (j *job) check() {
	if j.want >= 0 && len(j.from) >= j.want {
		select {
		case <-j.heard:
		default:
			close(j.heard)
		}
	}
}

// Receive takes a peer's partition of a job's counts.
func (w *Worker) Receive(ctx context.Context, from workman.Peer, in *warehouse.Warehouse) error {
	id, ok1 := in.String(KeyJob)
	sender, ok2 := in.Int64(KeyFrom)
	words, ok3 := in.Strings(wordcount.KeyWords)
	counts, ok4 := in.Int64s(wordcount.KeyWordCounts)
	if !(ok1 && ok2 && ok3 && ok4) || len(words) != len(counts) || sender < 0 || sender >= MaxTeam {
		return errors.New("shuffle: a partition needs a job, its sender's index, and words with as many counts")
	}
	j, err := w.get(id, -1)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if j.over {
		return fmt.Errorf("shuffle: a partition from worker %d of job %s after the job's task took its counts", sender, id)
	}
	if j.from[sender] {
		return fmt.Errorf("shuffle: a second partition from worker %d of job %s", sender, id)
	}
	j.from[sender] = true
	for i, word := range words {
		j.counts[word] += counts[i]
	}
	j.check()
	return nil
}

// DoTask counts the task's ranges, sends each other worker its partition,
// waits for theirs, and returns the words this worker owns.
func (w *Worker) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	t, err := readTask(in)
	if err != nil {
		return nil, err
	}
	j, err := w.get(t.job, len(t.team)-1)
	if err != nil {
		return nil, err
	}
	defer func() {
		w.mu.Lock()
		delete(w.jobs, t.job)
		w.mu.Unlock()
	}()
	// Count.
	c := wordcount.NewCounter()
	for i := range t.paths {
		r := warehouse.New()
		r.SetString(splitter.KeyPath, t.paths[i])
		r.SetInt64(splitter.KeyOffset, t.offsets[i])
		r.SetInt64(splitter.KeyLength, t.lengths[i])
		f, err := splitter.OpenRange(ctx, r)
		if err != nil {
			return nil, err
		}
		err = c.Read(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("shuffle: %w", err)
		}
	}
	// Partition, keeping this worker's own.
	n := len(t.team)
	parts := make([]*warehouse.Warehouse, n)
	pw := make([][]string, n)
	pc := make([][]int64, n)
	words, counts := c.Words()
	for i, word := range words {
		o := Owner(word, n)
		pw[o] = append(pw[o], word)
		pc[o] = append(pc[o], counts[i])
	}
	w.mu.Lock()
	for i, word := range pw[t.index] {
		j.counts[word] += pc[t.index][i]
	}
	w.mu.Unlock()
	// Send the others theirs, all at once.
	mesh := workman.MeshFrom(ctx)
	errs := make(chan error, n)
	for o := range n {
		if o == t.index {
			continue
		}
		parts[o] = warehouse.New()
		parts[o].SetString(KeyJob, t.job)
		parts[o].SetInt64(KeyFrom, int64(t.index))
		parts[o].SetStrings(wordcount.KeyWords, pw[o])
		parts[o].SetInt64s(wordcount.KeyWordCounts, pc[o])
		go func() {
			p, err := mesh.Peer(ctx, t.team[o])
			if err == nil {
				err = p.Receive(ctx, parts[o])
			}
			errs <- err
		}()
	}
	for range n - 1 {
		if err := <-errs; err != nil {
			return nil, fmt.Errorf("shuffle: send a partition: %w", err)
		}
	}
	// Wait for the others' partitions to this one.
	select {
	case <-j.heard:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	w.mu.Lock()
	j.over = true
	ow := make([]string, 0, len(j.counts))
	oc := make([]int64, 0, len(j.counts))
	for word, k := range j.counts {
		ow = append(ow, word)
		oc = append(oc, k)
	}
	var strangers []int64
	for from := range j.from {
		if from == int64(t.index) || from >= int64(n) {
			strangers = append(strangers, from)
		}
	}
	w.mu.Unlock()
	if len(strangers) > 0 {
		return nil, fmt.Errorf("shuffle: partitions from workers %v, not of a team of %d less this one (%d)", strangers, n, t.index)
	}
	out := warehouse.New()
	out.SetInt64(KeyIndex, int64(t.index))
	out.SetStrings(wordcount.KeyWords, ow)
	out.SetInt64s(wordcount.KeyWordCounts, oc)
	return out, nil
}

type task struct {
	job              string
	team             []string
	index            int
	paths            []string
	offsets, lengths []int64
}

func readTask(in *warehouse.Warehouse) (task, error) {
	var t task
	var ok [6]bool
	var index int64
	t.job, ok[0] = in.String(KeyJob)
	t.team, ok[1] = in.Strings(KeyTeam)
	index, ok[2] = in.Int64(KeyIndex)
	t.paths, ok[3] = in.Strings(KeyPaths)
	t.offsets, ok[4] = in.Int64s(KeyOffsets)
	t.lengths, ok[5] = in.Int64s(KeyLengths)
	if ok != [6]bool{true, true, true, true, true, true} || len(t.team) < 1 || len(t.team) > MaxTeam ||
		index < 0 || index >= int64(len(t.team)) || len(t.offsets) != len(t.paths) || len(t.lengths) != len(t.paths) {
		return task{}, errors.New("shuffle: a task needs a job, a team of 1 to 1024 workers, its index in it, and ranges")
	}
	t.index = int(index)
	return t, nil
}
