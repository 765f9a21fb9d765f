package splitter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fourinone-go/fourinone/warehouse"
)

// Keys of the text splitters' tasks.
const (
	KeyPath   = "path"   // string: the file
	KeyOffset = "offset" // int64: where the range starts
	KeyLength = "length" // int64: how many bytes
	KeyData   = "data"   // []byte: the range itself, when shipped
)

// Range is a byte range of a file.
type Range struct {
	Path   string
	Offset int64
	Length int64
}

// Ranges splits the file at path into at most n newline-aligned ranges of
// about equal size: every range but the last ends just after a '\n', so no
// line is cut. Fewer ranges come back when lines are longer than a range;
// an empty file gives none.
func Ranges(path string, n int) ([]Range, error) {
	if n < 1 {
		return nil, fmt.Errorf("splitter: %d ranges asked of %s", n, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("splitter: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("splitter: %w", err)
	}
	size := st.Size()
	var out []Range
	buf := make([]byte, 64<<10)
	start := int64(0)
	for i := 1; i <= n && start < size; i++ {
		end := size
		if i < n {
			if end, err = nextLineStart(f, buf, max(start, size*int64(i)/int64(n)), size); err != nil {
				return nil, fmt.Errorf("splitter: %s: %w", path, err)
			}
		}
		if end > start {
			out = append(out, Range{Path: path, Offset: start, Length: end - start})
			start = end
		}
	}
	return out, nil
}

// nextLineStart returns the offset just after the first '\n' at or after
// off-1 (so off itself if a line starts there), or size if none.
func nextLineStart(f *os.File, buf []byte, off, size int64) (int64, error) {
	if off == 0 {
		return 0, nil
	}
	for pos := off - 1; pos < size; {
		n, err := f.ReadAt(buf, pos)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return pos + int64(i) + 1, nil
		}
		pos += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	return size, nil
}

// TextFiles splits each file into newline-aligned ranges of about partSize
// bytes. Each task carries the range (KeyPath, KeyOffset, KeyLength), not
// the data: the worker reads its range where it runs (OpenRange), so the
// data stays put.
func TextFiles(paths []string, partSize int64) Splitter {
	return textFiles(paths, partSize, false)
}

// ShippedTextFiles splits like TextFiles but ships each range's bytes in
// the task under KeyData, for workers that cannot see the files. A range is
// read when its task is emitted, so memory holds only what is in flight.
func ShippedTextFiles(paths []string, partSize int64) Splitter {
	return textFiles(paths, partSize, true)
}

func textFiles(paths []string, partSize int64, ship bool) Splitter {
	// About one task per partSize bytes of each file (ranges end at lines).
	size := func() int {
		n := 0
		for _, p := range paths {
			if st, err := os.Stat(p); err == nil && partSize > 0 {
				n += int(max(1, (st.Size()+partSize-1)/partSize))
			}
		}
		return n
	}
	return sized{Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		if partSize < 1 {
			return fmt.Errorf("splitter: part size %d", partSize)
		}
		for _, p := range paths {
			st, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("splitter: %w", err)
			}
			rs, err := Ranges(p, int(max(1, (st.Size()+partSize-1)/partSize)))
			if err != nil {
				return err
			}
			for _, r := range rs {
				w := warehouse.New()
				w.SetString(KeyPath, r.Path)
				w.SetInt64(KeyOffset, r.Offset)
				w.SetInt64(KeyLength, r.Length)
				if ship {
					data, err := readRange(r)
					if err != nil {
						return err
					}
					w.SetBytes(KeyData, data)
				}
				if err := emit(w); err != nil {
					return err
				}
			}
		}
		return nil
	}), size}
}

func readRange(r Range) ([]byte, error) {
	f, err := os.Open(r.Path)
	if err != nil {
		return nil, fmt.Errorf("splitter: %w", err)
	}
	defer f.Close()
	data := make([]byte, r.Length)
	if _, err := f.ReadAt(data, r.Offset); err != nil {
		return nil, fmt.Errorf("splitter: read %s at %d: %w", r.Path, r.Offset, err)
	}
	return data, nil
}

// dataDirKey is the context key of WithDataDir.
type dataDirKey struct{}

// WithDataDir returns ctx carrying dir as the directory OpenRange reads
// files in. A workman sets it on every task from its Config.DataDir.
func WithDataDir(ctx context.Context, dir string) context.Context {
	return context.WithValue(ctx, dataDirKey{}, dir)
}

// ErrOutsideDataDir is returned by OpenRange for a path that is not in the
// data directory.
var ErrOutsideDataDir = errors.New("splitter: the path is outside the data directory")

// OpenRange returns the data of a text task: the shipped bytes under
// KeyData if present, else the file range named by KeyPath, KeyOffset and
// KeyLength, read where the worker runs. A task's path comes from whoever
// sent it, so it is read only inside the data directory (WithDataDir; the
// working directory if ctx carries none): an absolute path must be in it,
// a relative one is taken from it, and neither ".." nor a symbolic link may
// lead out of it (ErrOutsideDataDir).
func OpenRange(ctx context.Context, task *warehouse.Warehouse) (io.ReadCloser, error) {
	if data, ok := task.Bytes(KeyData); ok {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	path, ok1 := task.String(KeyPath)
	off, ok2 := task.Int64(KeyOffset)
	n, ok3 := task.Int64(KeyLength)
	if !ok1 || !ok2 || !ok3 || off < 0 || n < 0 {
		return nil, errors.New("splitter: task has neither data nor a path, offset and length")
	}
	dir, _ := ctx.Value(dataDirKey{}).(string)
	f, err := openIn(dir, path)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, nil
}

// openIn opens path inside dir ("" for the working directory), with
// os.Root: no component of the path, once resolved, may leave dir.
func openIn(dir, path string) (*os.File, error) {
	return inDir(dir, path, func(root *os.Root, rel string) (*os.File, error) { return root.Open(rel) })
}

// Create creates (or truncates) the file at path inside the data directory
// of the DoTask or Receive call whose ctx this is (see WithDataDir), as
// OpenRange opens files there: no path outside it is written.
func Create(ctx context.Context, path string) (*os.File, error) {
	dir, _ := ctx.Value(dataDirKey{}).(string)
	return inDir(dir, path, func(root *os.Root, rel string) (*os.File, error) { return root.Create(rel) })
}

// inDir runs open on path relative to dir, in an os.Root of dir.
func inDir(dir, path string, open func(*os.Root, string) (*os.File, error)) (*os.File, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("splitter: data directory: %w", err)
	}
	rel := path
	if filepath.IsAbs(path) {
		if rel, err = relIn(abs, path); err != nil {
			return nil, err
		}
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("splitter: data directory: %w", err)
	}
	defer root.Close()
	f, err := open(root, rel)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
			return nil, fmt.Errorf("%w: %q", ErrOutsideDataDir, path)
		}
		return nil, fmt.Errorf("splitter: %w", err)
	}
	return f, nil
}

// relIn returns absolute path relative to dir, which it must be in: as
// written, or once dir's own symbolic links are resolved.
func relIn(dir, path string) (string, error) {
	dirs := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		dirs = append(dirs, real)
	}
	for _, d := range dirs {
		rel, err := filepath.Rel(d, filepath.Clean(path))
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return rel, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrOutsideDataDir, path)
}

// Numeric keys.
const (
	KeyLo = "lo" // int64: first number of the range
	KeyHi = "hi" // int64: one past the last
)

// IntRange splits [lo, hi) into tasks of step numbers each (the last may be
// shorter), carried under KeyLo and KeyHi.
func IntRange(lo, hi, step int64) Splitter {
	n := 0
	if step > 0 && hi > lo {
		n = int((hi - lo + step - 1) / step)
	}
	return WithSize(Func(func(ctx context.Context, emit func(*warehouse.Warehouse) error) error {
		if step < 1 {
			return fmt.Errorf("splitter: step %d", step)
		}
		for a := lo; a < hi; {
			b := hi
			if hi-a > step {
				b = a + step
			}
			w := warehouse.New()
			w.SetInt64(KeyLo, a)
			w.SetInt64(KeyHi, b)
			if err := emit(w); err != nil {
				return err
			}
			a = b
		}
		return nil
	}), n)
}
