package terasort

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/google/uuid"
)

// Part is one range's sorted output.
type Part struct {
	Path    string
	Records int64
}

// samplesPerRange is how many keys the foreman samples per range.
const samplesPerRange = 1000

// Run sorts the records of input on workers numbers of workers where o
// says, writing range i's records sorted to outDir/part-0000i. The input
// and outDir are paths the workers see (in their data directories; on an
// embedded park, the embedded workers are given their common directory).
func Run(ctx context.Context, o team.Options, workers int, input, outDir string) ([]Part, error) {
	f, records, err := open(workers, input, outDir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	files, err := o.Files(input, filepath.Join(outDir, PartName(0)))
	if err != nil {
		return nil, fmt.Errorf("terasort: %w", err)
	}
	input, outDir = files[0], filepath.Dir(files[1])
	t, err := team.Open(ctx, o, team.Need{Type: Type, N: workers, Worker: NewWorker})
	if err != nil {
		return nil, fmt.Errorf("terasort: %w", err)
	}
	defer t.Close()
	return sortOn(ctx, t.Foreman, t.Workers[Type], f, records, input, outDir)
}

// RunOn is Run on workers a foreman already holds (of Type, at most
// MaxTeam), the input and outDir paths the workers see and this process
// reads too.
func RunOn(ctx context.Context, fm *foreman.Foreman, ws []*foreman.Workman, input, outDir string) ([]Part, error) {
	f, records, err := open(len(ws), input, outDir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return sortOn(ctx, fm, ws, f, records, input, outDir)
}

// open opens the input of a sort on n workers, checks it holds whole
// records and makes the output directory.
func open(n int, input, outDir string) (*os.File, int64, error) {
	if n > MaxTeam {
		return nil, 0, fmt.Errorf("terasort: %d workers: at most %d", n, MaxTeam)
	}
	f, err := os.Open(input)
	if err != nil {
		return nil, 0, fmt.Errorf("terasort: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size()%RecordSize != 0 {
		err = fmt.Errorf("%s is %d bytes, not a whole number of %d-byte records", input, st.Size(), RecordSize)
	}
	if err == nil {
		err = os.MkdirAll(outDir, 0o755)
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("terasort: %w", err)
	}
	return f, st.Size() / RecordSize, nil
}

// sortOn sorts the records of f, at input for the workers, on ws.
func sortOn(ctx context.Context, fm *foreman.Foreman, ws []*foreman.Workman, f *os.File, records int64, input, outDir string) ([]Part, error) {
	n := len(ws)
	bounds, err := Bounds(f, records, n)
	if err != nil {
		return nil, err
	}
	ids := make([]string, n)
	for i, w := range ws {
		ids[i] = w.ID
	}
	job := uuid.NewString()
	ins := make([]*warehouse.Warehouse, n)
	for i := range ins {
		lo, hi := records*int64(i)/int64(n), records*int64(i+1)/int64(n)
		in := warehouse.New()
		in.SetString(KeyJob, job)
		in.SetStrings(KeyTeam, ids)
		in.SetInt64(KeyIndex, int64(i))
		in.SetBytes(KeyBounds, bounds)
		in.SetString(KeyOutDir, outDir)
		in.SetString(splitter.KeyPath, input)
		in.SetInt64(splitter.KeyOffset, lo*RecordSize)
		in.SetInt64(splitter.KeyLength, (hi-lo)*RecordSize)
		ins[i] = in
	}
	outs, err := fm.DoTasks(ctx, ws, ins)
	if err != nil {
		return nil, err
	}
	return check(outs, records)
}

// check returns the parts of the workers' results, checking that they
// hold every record and follow each other in order.
func check(outs []*warehouse.Warehouse, records int64) ([]Part, error) {
	parts := make([]Part, len(outs))
	var total int64
	var prev []byte
	for i, out := range outs {
		path, ok1 := out.String(KeyPart)
		count, ok2 := out.Int64(KeyCount)
		first, _ := out.Bytes(KeyFirst)
		end, _ := out.Bytes(KeyEnd)
		if !ok1 || !ok2 || count < 0 {
			return nil, fmt.Errorf("terasort: worker %d's result has no part file and count", i)
		}
		if count > 0 {
			if prev != nil && bytes.Compare(prev, first) > 0 {
				return nil, fmt.Errorf("terasort: part %d starts below where part %d ends", i, i-1)
			}
			prev = end
		}
		parts[i] = Part{Path: path, Records: count}
		total += count
	}
	if total != records {
		return nil, fmt.Errorf("terasort: the parts hold %d records of %d", total, records)
	}
	return parts, nil
}

// Bounds samples the keys of f's records to choose n ranges of about
// equal size: n-1 boundaries, KeySize bytes each.
func Bounds(f *os.File, records int64, n int) ([]byte, error) {
	if n < 2 || records == 0 {
		return []byte{}, nil
	}
	s := min(records, int64(samplesPerRange*n))
	r := rand.New(rand.NewPCG(uint64(records), uint64(n)))
	keys := make([][]byte, s)
	for i := range keys {
		k := make([]byte, KeySize)
		if _, err := f.ReadAt(k, r.Int64N(records)*RecordSize); err != nil {
			return nil, fmt.Errorf("terasort: sample the keys: %w", err)
		}
		keys[i] = k
	}
	slices.SortFunc(keys, bytes.Compare)
	bounds := make([]byte, 0, (n-1)*KeySize)
	for i := 1; i < n; i++ {
		bounds = append(bounds, keys[int64(i)*s/int64(n)]...)
	}
	return bounds, nil
}

// Local sorts input in this process into output: the reference, and the
// single-process rate the distributed sort is measured against.
func Local(input, output string) error {
	data, err := os.ReadFile(input)
	if err != nil {
		return fmt.Errorf("terasort: %w", err)
	}
	if len(data)%RecordSize != 0 {
		return fmt.Errorf("terasort: %s is %d bytes, not a whole number of %d-byte records", input, len(data), RecordSize)
	}
	f, err := os.Create(output)
	if err != nil {
		return err
	}
	if _, err := Sort(data).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Concat writes the parts' contents in order to w.
func Concat(w io.Writer, parts []Part) error {
	for _, p := range parts {
		f, err := os.Open(p.Path)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
