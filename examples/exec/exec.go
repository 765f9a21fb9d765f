// Package exec runs any program on workers, Hadoop-streaming style (seed
// 002): a task's bytes go to the program's stdin, its stdout is the
// task's result, and a program that fails makes the task an exception
// naming its exit status and the tail of its stderr. The foreman splits
// text files at line ends and writes the outputs in the order of the
// input.
//
// The program is the workman's own (workman -type exec -cmd '...'), never
// the network's: a task may only name the program it expects, and a
// worker running another refuses it.
package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	osexec "os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/fourinone-go/fourinone/combiner"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
)

// Type is the worker type of exec workmen.
const Type = "exec"

// Keys.
const (
	KeySeq    = "seq"    // int64: the task's place in the input
	KeyCmd    = "cmd"    // string: the program the foreman expects (optional)
	KeyOutput = "output" // []byte: the program's stdout
)

// MaxOutput bounds what a program may write to stdout for one task: a
// result must fit in a Warehouse.
const MaxOutput = 48 << 20

// stderrTail is how much of a failed program's stderr its exception shows.
const stderrTail = 2 << 10

// Worker returns a Worker that runs cmd with sh -c for each task.
func Worker(cmd string) workman.Worker {
	return workman.WorkerFunc(func(ctx context.Context, in *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		if want, ok := in.String(KeyCmd); ok && want != cmd {
			return nil, fmt.Errorf("exec: this workman runs %q, the task is for %q", cmd, want)
		}
		seq, ok := in.Int64(KeySeq)
		if !ok {
			return nil, fmt.Errorf("exec: a task without %s", KeySeq)
		}
		stdin, err := splitter.OpenRange(ctx, in)
		if err != nil {
			return nil, err
		}
		defer stdin.Close()
		out, err := Run(ctx, cmd, stdin)
		if err != nil {
			return nil, err
		}
		res := warehouse.New()
		res.SetInt64(KeySeq, seq)
		res.SetBytes(KeyOutput, out)
		return res, nil
	})
}

// Run runs cmd with sh -c, stdin on its standard input, and returns its
// stdout (at most MaxOutput bytes). A failure's error has the exit status
// and the tail of stderr.
func Run(ctx context.Context, cmd string, stdin io.Reader) ([]byte, error) {
	c := osexec.CommandContext(ctx, "sh", "-c", cmd)
	// A cancelled task kills the program's whole process group (what sh
	// started too), and stops waiting for its pipes a second later.
	killGroup(c)
	c.WaitDelay = time.Second
	c.Stdin = stdin
	var out limited
	var errTail tail
	c.Stdout, c.Stderr = &out, &errTail
	err := c.Run()
	var exit *osexec.ExitError
	switch {
	case out.over:
		return nil, fmt.Errorf("exec: %q wrote more than %d bytes to stdout", cmd, MaxOutput)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, &exit):
		return nil, fmt.Errorf("exec: %q: %s; stderr: %s", cmd, exit.ProcessState, strings.TrimSpace(errTail.String()))
	case err != nil:
		return nil, fmt.Errorf("exec: %q: %w", cmd, err)
	}
	return out.b.Bytes(), nil
}

// limited keeps up to MaxOutput bytes, then fails the writes (the program
// gets a broken pipe and the task fails).
type limited struct {
	b    bytes.Buffer
	over bool
}

func (l *limited) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > MaxOutput {
		l.over = true
		return 0, errors.New("exec: output over the limit")
	}
	return l.b.Write(p)
}

// tail keeps the last stderrTail bytes written.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= stderrTail {
		p = p[len(p)-stderrTail:]
		t.b = t.b[:0]
	}
	if over := len(t.b) + len(p) - stderrTail; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	t.b = append(t.b, p...)
	return n, nil
}

func (t *tail) String() string { return string(t.b) }

// Splitter splits the files at line ends into tasks of about partSize
// bytes, shipped in the tasks (the workers need not see the files), each
// numbered in input order; cmd, if not blank, is the program the tasks
// are for.
func Splitter(paths []string, partSize int64, cmd string) splitter.Splitter {
	files := splitter.ShippedTextFiles(paths, partSize)
	n := 0
	if s, ok := files.(splitter.Sized); ok {
		n = s.Size()
	}
	return splitter.WithSize(splitter.Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		seq := int64(0)
		return files.Split(ctx, func(t *warehouse.Warehouse) error {
			t.SetInt64(KeySeq, seq)
			seq++
			if cmd != "" {
				t.SetString(KeyCmd, cmd)
			}
			return emit(t)
		})
	}), n)
}

// Combiner keeps each task's output under its number; Write writes them
// in order.
func Combiner() combiner.Combiner {
	return combiner.Func(func(acc, r *warehouse.Warehouse) (*warehouse.Warehouse, error) {
		seq, ok1 := r.Int64(KeySeq)
		out, ok2 := r.Bytes(KeyOutput)
		if !ok1 || !ok2 || seq < 0 {
			return nil, fmt.Errorf("exec: a result without %s and %s", KeySeq, KeyOutput)
		}
		acc.SetBytes(strconv.FormatInt(seq, 10), out)
		return acc, nil
	})
}

// Write writes the outputs of a combined result in input order.
func Write(w io.Writer, acc *warehouse.Warehouse) error {
	bw := bufio.NewWriter(w)
	for seq := range acc.Len() {
		out, ok := acc.Bytes(strconv.Itoa(seq))
		if !ok {
			return fmt.Errorf("exec: no output of task %d of %d", seq, acc.Len())
		}
		if _, err := bw.Write(out); err != nil {
			return err
		}
	}
	return bw.Flush()
}
