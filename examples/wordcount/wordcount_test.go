package wordcount

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fourinone-go/fourinone/security"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func fields(b []byte) map[string]int64 {
	m := map[string]int64{}
	for _, w := range bytes.Fields(b) {
		m[string(w)]++
	}
	return m
}

func checkCounter(t *testing.T, input []byte) {
	t.Helper()
	want := fields(input)
	for _, block := range []int{1, 2, 3, 5, 64, 1 << 20} {
		readBlock = block
		c := NewCounter()
		if err := c.Read(bytes.NewReader(input)); err != nil {
			t.Fatal(err)
		}
		if got := c.Counts(); !maps.Equal(got, want) {
			t.Fatalf("block %d: counts of %q = %v, want %v", block, input, got, want)
		}
	}
	readBlock = 1 << 20
	c := NewCounter()
	c.Bytes(input)
	if got := c.Counts(); !maps.Equal(got, want) {
		t.Fatalf("Bytes: counts of %q = %v, want %v", input, got, want)
	}
}

func TestCounterMatchesFields(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"spaces only", " \t\n\r\v\f "},
		{"simple", "the cat the hat\nthe end"},
		{"case sensitive", "Go go GO go"},
		{"punctuation stays", "end. end end,"},
		{"unicode spaces", "a\u00a0b\u3000c\u2028d\u0085e"},
		{"multi-byte words", "naïve café naïve 日本語"},
		{"invalid utf8 is not space", "a\xffb \xc2 \xe3\x80"},
		{"no trailing newline", "last word"},
		{"long word", strings.Repeat("x", 300) + " y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkCounter(t, []byte(tt.in)) })
	}
}

func FuzzCounter(f *testing.F) {
	f.Add([]byte("a\u00a0b c\n"))
	f.Add([]byte("\xc2\xa0\xe3\x80\x80x"))
	f.Fuzz(func(t *testing.T, in []byte) { checkCounter(t, in) })
}

func TestWrite(t *testing.T) {
	counts := map[string]int64{"b": 2, "a": 2, "c": 5, "d": 1}
	tests := []struct {
		top  int
		want string
	}{
		{0, "5\tc\n2\ta\n2\tb\n1\td\n"},
		{2, "5\tc\n2\ta\n"},
		{10, "5\tc\n2\ta\n2\tb\n1\td\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := Write(&b, counts, tt.top); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("top %d: got %q, want %q", tt.top, b.String(), tt.want)
		}
	}
}

func genFile(t *testing.T, size int64, seed uint64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "text.txt")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := Generate(f, size, seed); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCount runs the whole job on an embedded cluster and compares it with
// a single-threaded bytes.Fields count. The big case is cut into many more
// tasks than workers, read in place.
func TestCount(t *testing.T) {
	small := genFile(t, 3<<20, 1)
	big := genFile(t, 24<<20, 2)
	tests := []struct {
		name  string
		paths []string
		o     Options
	}{
		{"mesh big", []string{big}, Options{PartSize: 1 << 20}},
		{"hub shipped", []string{small, small}, Options{Mode: "hub", Ship: true, PartSize: 256 << 10}},
		{"mesh shipped three workers", []string{small}, Options{Ship: true, Workers: 3, PartSize: 100 << 10}},
		{"token", []string{small}, Options{Security: security.Config{Token: "s3cret"}, PartSize: 1 << 20}},
		// The README's first command: a relative path, read by the embedded
		// workers inside their data directory.
		{"relative paths", []string{"testdata/two-cities.txt", small}, Options{PartSize: 4 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := CountLocal(tt.paths...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Count(context.Background(), tt.o, tt.paths...)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d distinct words, want %d", len(got), len(want))
			}
			for w, n := range want {
				if got[w] != n {
					t.Fatalf("count of %q = %d, want %d", w, got[w], n)
				}
			}
		})
	}
}

func TestCountErrors(t *testing.T) {
	if _, err := Count(context.Background(), Options{}); err == nil {
		t.Error("Count of no files succeeded")
	}
	_, err := Count(context.Background(), Options{}, filepath.Join(t.TempDir(), "missing.txt"))
	if err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("Count of a missing file = %v, want an error naming it", err)
	}
}
