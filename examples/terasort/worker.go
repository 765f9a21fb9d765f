package terasort

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of sorting workmen.
const Type = "terasort"

// Keys of tasks, records sent between workers, and results.
const (
	KeyJob     = "job"     // string: the job's id
	KeyTeam    = "team"    // []string: the team's worker ids; worker i sorts range i
	KeyIndex   = "index"   // int64: the task's worker's index in the team
	KeyBounds  = "bounds"  // []byte: the ranges' boundaries, KeySize bytes each
	KeyOutDir  = "out"     // string: the directory of the part files
	KeyFrom    = "from"    // int64: records' sender
	KeyLast    = "last"    // bool: the sender's last records
	KeyRecords = "records" // []byte: records, back to back
	KeyPart    = "part"    // string: a result's part file
	KeyCount   = "count"   // int64: a result's records
	KeyFirst   = "first"   // []byte: its first record
	KeyEnd     = "end"     // []byte: its last record
)

// Limits: a team, the jobs a worker holds records for, the records a
// worker reads or holds for one job, and the records in one message.
const (
	MaxTeam  = 1 << 10
	maxJobs  = 16
	MaxBytes = 4 << 30
	chunk    = 4 << 20 / RecordSize * RecordSize
)

// Worker is a sorting worker: NewWorker makes one.
type Worker struct {
	inbox *team.Mailbox[[][]byte] // each job's records of this worker's range, as they came
}

// NewWorker returns a sorting worker.
func NewWorker() workman.Worker { return &Worker{inbox: team.NewMailbox[[][]byte](maxJobs)} }

// Receive takes records of this worker's range from a peer.
func (w *Worker) Receive(ctx context.Context, from workman.Peer, in *warehouse.Warehouse) error {
	job, ok1 := in.String(KeyJob)
	sender, ok2 := in.Int64(KeyFrom)
	last, ok3 := in.Bool(KeyLast)
	recs, ok4 := in.Bytes(KeyRecords)
	if !(ok1 && ok2 && ok3 && ok4) || sender < 0 || sender >= MaxTeam || len(recs)%RecordSize != 0 {
		return errors.New("terasort: records need a job, their sender, whether they are its last, and whole records")
	}
	err := w.inbox.Put(job, int(sender), last, func(parts *[][]byte) error {
		held := 0
		for _, p := range *parts {
			held += len(p)
		}
		if held+len(recs) > MaxBytes {
			return fmt.Errorf("job %s: over %d bytes of records", job, MaxBytes)
		}
		if len(recs) > 0 {
			*parts = append(*parts, recs)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("terasort: %w", err)
	}
	return nil
}

// DoTask reads the task's share of the input, sends each other worker the
// records of its range, waits for theirs, sorts its range and writes it.
func (w *Worker) DoTask(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
	t, err := readTask(in)
	if err != nil {
		return nil, err
	}
	n := len(t.team)
	if err := w.inbox.Open(t.job, n, t.index); err != nil {
		return nil, fmt.Errorf("terasort: %w", err)
	}
	defer w.inbox.Close(t.job)
	// Read the share and put each record in its range's pile.
	length, _ := in.Int64(splitter.KeyLength)
	parts, err := partition(ctx, in, t.bounds, n, length)
	if err != nil {
		return nil, err
	}
	// Send each other worker its records, to all at once.
	peers, err := team.Peers(ctx, t.team)
	if err == nil {
		err = team.Each(n, t.index, func(o int) error { return send(ctx, peers[o], t, parts[o]) })
	}
	if err != nil {
		return nil, fmt.Errorf("terasort: %w", err)
	}
	// Take the others' records of this range, sort, write.
	var chunks [][]byte
	err = w.inbox.Wait(ctx, t.job, func(got *[][]byte) { chunks, *got = append(*got, parts[t.index]), nil })
	if err != nil {
		return nil, fmt.Errorf("terasort: %w", err)
	}
	parts = nil
	sorted := Sort(chunks...)
	name := filepath.Join(t.out, PartName(t.index))
	if err := write(ctx, name, sorted); err != nil {
		return nil, err
	}
	out := warehouse.New()
	out.SetInt64(KeyIndex, int64(t.index))
	out.SetString(KeyPart, name)
	out.SetInt64(KeyCount, int64(sorted.Len()))
	if sorted.Len() > 0 {
		out.SetBytes(KeyFirst, sorted.First())
		out.SetBytes(KeyEnd, sorted.Last())
	}
	return out, nil
}

// send sends p its records in messages of chunk bytes, the last marked.
func send(ctx context.Context, p workman.Peer, t task, recs []byte) error {
	for {
		n := min(len(recs), chunk)
		m := warehouse.New()
		m.SetString(KeyJob, t.job)
		m.SetInt64(KeyFrom, int64(t.index))
		m.SetBool(KeyLast, n == len(recs))
		m.SetBytes(KeyRecords, recs[:n])
		if err := p.Receive(ctx, m); err != nil {
			return err
		}
		if recs = recs[n:]; len(recs) == 0 {
			return nil
		}
	}
}

// partition reads the task's range of the input (length bytes of whole
// records) in blocks and returns the records of each of n ranges of keys,
// back to back.
func partition(ctx context.Context, in *warehouse.Warehouse, bounds []byte, n int, length int64) ([][]byte, error) {
	r, err := splitter.OpenRange(ctx, in)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	parts := make([][]byte, n)
	for i := range parts {
		// A range's share, and an eighth more: sampled ranges are about equal.
		parts[i] = make([]byte, 0, int(length)/n+int(length)/(8*n)/RecordSize*RecordSize)
	}
	block := make([]byte, 1<<20/RecordSize*RecordSize)
	for read := int64(0); read < length; {
		b := block[:min(int64(len(block)), length-read)]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("terasort: read the input: %w", err)
		}
		read += int64(len(b))
		for i := 0; i < len(b); i += RecordSize {
			p := Partition(bounds, b[i:])
			parts[p] = append(parts[p], b[i:i+RecordSize]...)
		}
	}
	return parts, nil
}

// write writes the sorted records to the file at name in the data
// directory.
func write(ctx context.Context, name string, s *Sorted) error {
	f, err := splitter.Create(ctx, name)
	if err != nil {
		return err
	}
	if _, err := s.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("terasort: write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("terasort: write %s: %w", name, err)
	}
	return nil
}

type task struct {
	job    string
	team   []string
	index  int
	bounds []byte
	out    string
}

func readTask(in *warehouse.Warehouse) (task, error) {
	var t task
	var ok [5]bool
	var index int64
	t.job, ok[0] = in.String(KeyJob)
	t.team, ok[1] = in.Strings(KeyTeam)
	index, ok[2] = in.Int64(KeyIndex)
	t.bounds, ok[3] = in.Bytes(KeyBounds)
	t.out, ok[4] = in.String(KeyOutDir)
	length, _ := in.Int64(splitter.KeyLength)
	if ok != [5]bool{true, true, true, true, true} || len(t.team) < 1 || len(t.team) > MaxTeam ||
		index < 0 || index >= int64(len(t.team)) || len(t.bounds) != (len(t.team)-1)*KeySize ||
		length < 0 || length > MaxBytes || length%RecordSize != 0 {
		return task{}, errors.New("terasort: a task needs a job, a team of 1 to 1024 workers, its index, the boundaries of their ranges, an output directory and a range of whole records")
	}
	t.index = int(index)
	return t, nil
}
