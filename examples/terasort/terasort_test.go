package terasort

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/examples/internal/team"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/fourinone-go/fourinone/workman"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// reference sorts the records of data the plainest way: a slice of
// records, bytes.Compare.
func reference(data []byte) []byte {
	var recs [][]byte
	for i := 0; i < len(data); i += RecordSize {
		recs = append(recs, data[i:i+RecordSize])
	}
	slices.SortFunc(recs, bytes.Compare)
	return bytes.Join(recs, nil)
}

// TestSortEqualsReference: three workers of capacity 1 sort 200,000
// records (some keys repeated, so ties cross the index's prefix) into
// parts whose concatenation is the records sorted the plainest way; the
// in-process Sort is the same.
func TestSortEqualsReference(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.dat")
	var b bytes.Buffer
	if err := Generate(&b, 200_000, 7); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	for i := 0; i < 1000; i++ { // records whose keys equal another's
		copy(data[(i*97+50)*RecordSize:][:KeySize], data[i*RecordSize:][:KeySize])
	}
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want := reference(data)
	parts, err := Run(ctx, team.Options{Capacity: 1}, 3, in, filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := Concat(&got, parts); err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("%d parts of %d bytes, not the %d bytes sorted", len(parts), got.Len(), len(want))
	}
	for i, p := range parts {
		if p.Records < 200_000/3/2 { // the sampled ranges are about equal
			t.Errorf("part %d holds %d records of 200,000", i, p.Records)
		}
	}
	var local bytes.Buffer
	third := len(data) / RecordSize / 3 * RecordSize
	if _, err := Sort(data[:third], data[third:]).WriteTo(&local); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(local.Bytes(), want) {
		t.Fatal("Sort differs from the plain sort")
	}
}

// TestBadInput: a file of part records, a task without its team, and
// records that are not whole are refused.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.dat")
	if err := os.WriteFile(in, make([]byte, RecordSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), team.Options{}, 1, in, dir); err == nil {
		t.Error("a file of 101 bytes: no error")
	}
	w := NewWorker()
	if _, err := w.DoTask(context.Background(), warehouse.New()); err == nil {
		t.Error("an empty task: no error")
	}
	m := warehouse.New()
	m.SetString(KeyJob, "j")
	m.SetInt64(KeyFrom, 0)
	m.SetBool(KeyLast, true)
	m.SetBytes(KeyRecords, make([]byte, 150))
	if err := w.Receive(context.Background(), workman.Peer{}, m); err == nil {
		t.Error("one and a half records: no error")
	}
}
