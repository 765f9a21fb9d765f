package exec

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/workman"
)

// Options of Stream.
type Options struct {
	team.Options
	// Workers is how many workers to use.
	Workers int
	// Cmd is the program: the embedded workers run it; on a running park,
	// if not blank, the workers must run exactly it.
	Cmd string
	// PartSize is the input of one task, in bytes.
	PartSize int64
}

// Stream runs the program on the files' lines across workers and writes
// its outputs to w in input order.
func Stream(ctx context.Context, o Options, w io.Writer, paths ...string) error {
	switch {
	case len(paths) == 0:
		return errors.New("exec: no files")
	case o.Park == "" && o.Cmd == "":
		return errors.New("exec: no command for the embedded workers")
	case o.PartSize < 1:
		return fmt.Errorf("exec: part size %d", o.PartSize)
	}
	t, err := team.Open(ctx, o.Options, team.Need{Type: Type, N: o.Workers, Worker: func() workman.Worker { return Worker(o.Cmd) }})
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	defer t.Close()
	acc, err := t.Foreman.Run(ctx, t.Workers[Type], Splitter(paths, o.PartSize, o.Cmd), Combiner(), t.RunOptions("exec "+o.Cmd)...)
	if err != nil {
		return err
	}
	return Write(w, acc)
}
