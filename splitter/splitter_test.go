package splitter

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fourinone-go/fourinone/warehouse"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRanges(t *testing.T) {
	tests := []struct {
		name    string
		content string
		n       int
		want    [][2]int64 // offset, length
	}{
		{"empty", "", 3, nil},
		{"one range", "a\nb\n", 1, [][2]int64{{0, 4}}},
		{"even lines", "aaa\nbbb\nccc\nddd\n", 2, [][2]int64{{0, 8}, {8, 8}}},
		{"cut moves to the next line", "aaaaa\nb\ncc\n", 2, [][2]int64{{0, 6}, {6, 5}}},
		{"no newline at all", "abcdefgh", 4, [][2]int64{{0, 8}}},
		{"long line swallows ranges", "x\n" + strings.Repeat("y", 20) + "\nz\n", 4, [][2]int64{{0, 23}, {23, 2}}},
		{"more ranges than lines", "a\nb\n", 10, [][2]int64{{0, 2}, {2, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.content)
			rs, err := Ranges(p, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			var got [][2]int64
			for _, r := range rs {
				got = append(got, [2]int64{r.Offset, r.Length})
				if r.Path != p {
					t.Errorf("range path %q, want %q", r.Path, p)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Ranges(%q, %d) = %v, want %v", tt.content, tt.n, got, tt.want)
			}
		})
	}
	if _, err := Ranges(filepath.Join(t.TempDir(), "missing"), 2); err == nil {
		t.Error("Ranges of a missing file succeeded")
	}
}

func collect(t *testing.T, s Splitter) []*warehouse.Warehouse {
	t.Helper()
	var out []*warehouse.Warehouse
	if err := s.Split(context.Background(), func(w *warehouse.Warehouse) error {
		out = append(out, w)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTextFilesInPlaceAndShipped(t *testing.T) {
	content := "one two\nthree\nfour five six\nseven\n"
	p := writeFile(t, content)
	ctx := WithDataDir(context.Background(), filepath.Dir(p))
	for _, ship := range []bool{false, true} {
		s := TextFiles([]string{p}, 10)
		if ship {
			s = ShippedTextFiles([]string{p}, 10)
		}
		var joined strings.Builder
		tasks := collect(t, s)
		if len(tasks) < 2 {
			t.Fatalf("ship=%v: %d tasks, want several", ship, len(tasks))
		}
		for _, task := range tasks {
			if _, has := task.Bytes(KeyData); has != ship {
				t.Fatalf("ship=%v: task has data: %v", ship, has)
			}
			r, err := OpenRange(ctx, task)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 0 && b[len(b)-1] != '\n' {
				t.Errorf("ship=%v: range %q does not end a line", ship, b)
			}
			joined.Write(b)
		}
		if joined.String() != content {
			t.Fatalf("ship=%v: ranges join to %q, want %q", ship, joined.String(), content)
		}
	}
	if _, err := OpenRange(ctx, warehouse.New()); err == nil {
		t.Error("OpenRange of an empty task succeeded")
	}
}

// A task's path is read only inside the data directory: not an absolute
// path elsewhere, not "..", not a symbolic link out, not /proc.
func TestOpenRangeConfined(t *testing.T) {
	outside := writeFile(t, "secret\n")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte("hello world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	task := func(path string) *warehouse.Warehouse {
		w := warehouse.New()
		w.SetString(KeyPath, path)
		w.SetInt64(KeyOffset, 0)
		w.SetInt64(KeyLength, 5)
		return w
	}
	ctx := WithDataDir(context.Background(), dir)
	for _, path := range []string{filepath.Join(dir, "in.txt"), "in.txt", "./sub/../in.txt"} {
		r, err := OpenRange(ctx, task(path))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != "hello" {
			t.Fatalf("%s: read %q, want hello", path, b)
		}
	}
	for _, path := range []string{"/etc/passwd", "/proc/self/environ", outside, "../" + filepath.Base(filepath.Dir(outside)) + "/f.txt",
		filepath.Join(dir, "..", filepath.Base(dir)+"x"), "link.txt", "linkdir/f.txt", filepath.Join(dir, "link.txt")} {
		if _, err := OpenRange(ctx, task(path)); !errors.Is(err, ErrOutsideDataDir) {
			t.Errorf("%s: %v, want ErrOutsideDataDir", path, err)
		}
	}
	// Without a data directory: the working directory.
	if _, err := OpenRange(context.Background(), task("/etc/passwd")); !errors.Is(err, ErrOutsideDataDir) {
		t.Errorf("/etc/passwd with no data directory: %v, want ErrOutsideDataDir", err)
	}
	if _, err := OpenRange(context.Background(), task("splitter.go")); err != nil {
		t.Errorf("a file in the working directory: %v", err)
	}
	// Create writes in the data directory only, through no link out of it.
	f, err := Create(ctx, "sub/out.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := os.Stat(filepath.Join(dir, "sub", "out.txt")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{outside, "../x.txt", "linkdir/new.txt", "link.txt"} {
		if _, err := Create(ctx, path); !errors.Is(err, ErrOutsideDataDir) {
			t.Errorf("Create %s: %v, want ErrOutsideDataDir", path, err)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "secret\n" {
		t.Errorf("the file outside was changed: %q", b)
	}
}

func TestIntRange(t *testing.T) {
	var got [][2]int64
	for _, w := range collect(t, IntRange(3, 20, 5)) {
		lo, _ := w.Int64(KeyLo)
		hi, _ := w.Int64(KeyHi)
		got = append(got, [2]int64{lo, hi})
	}
	want := [][2]int64{{3, 8}, {8, 13}, {13, 18}, {18, 20}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("IntRange(3, 20, 5) = %v, want %v", got, want)
	}
	if err := IntRange(0, 1, 0).Split(context.Background(), func(*warehouse.Warehouse) error { return nil }); err == nil {
		t.Error("step 0 accepted")
	}
}

func TestSeqStopsWithTheJob(t *testing.T) {
	yielded := 0
	endless := func(yield func(*warehouse.Warehouse) bool) {
		for i := int64(0); ; i++ {
			w := warehouse.New()
			w.SetInt64("i", i)
			yielded++
			if !yield(w) {
				return
			}
		}
	}
	var got []int64
	stop := errors.New("enough")
	err := Seq(endless).Split(context.Background(), func(w *warehouse.Warehouse) error {
		i, _ := w.Int64("i")
		got = append(got, i)
		if len(got) == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !reflect.DeepEqual(got, []int64{0, 1, 2}) || yielded != 3 {
		t.Fatalf("Seq: err %v, got %v after %d yields; want the emit error, [0 1 2], 3", err, got, yielded)
	}
}
