package e2e

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fourinone-go/fourinone/examples/factors"
	"github.com/fourinone-go/fourinone/examples/mandelbrot"
	"github.com/fourinone-go/fourinone/examples/search"
	"github.com/fourinone-go/fourinone/examples/terasort"
)

// TestExamplesSeparateProcesses runs each example as its README does on a
// cluster: a parkserver, workman processes of the example's types, and the
// example's command with -park, all with per-role credentials; each
// output is compared with the same computation in this process.
func TestExamplesSeparateProcesses(t *testing.T) {
	url := startPark(t)
	workmen := func(t *testing.T, typ string, n int, args ...string) {
		t.Helper()
		for range n {
			start(t, " ready", "workman", append([]string{"-type", typ, "-park", url}, args...)...)
		}
	}
	run := func(t *testing.T, bin string, args ...string) string {
		t.Helper()
		out, errOut, err := runCmd(t, bin, append([]string{"-park", url, "-q"}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", bin, err, errOut)
		}
		return out
	}
	ctx := context.Background()

	t.Run("factors", func(t *testing.T) {
		workmen(t, factors.Type, 2)
		got := run(t, "factors", "-workers", "2", "-from", "10000000", "-to", "10000300", "-step", "20")
		ns, err := factors.Local(ctx, 10000000, 10000300)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := factors.Write(&want, ns); err != nil {
			t.Fatal(err)
		}
		if got != want.String() {
			t.Fatalf("factors printed %d bytes, not the %d of one goroutine", len(got), want.Len())
		}
	})

	t.Run("mandelbrot", func(t *testing.T) {
		workmen(t, mandelbrot.Type, 2)
		file := filepath.Join(t.TempDir(), "m.png")
		run(t, "mandelbrot", "-workers", "2", "-width", "240", "-height", "150", "-maxiter", "200", "-bands", "7", "-o", file)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		want, err := mandelbrot.Local(ctx, mandelbrot.Whole(240, 150, 200))
		if err != nil {
			t.Fatal(err)
		}
		for y := range 150 {
			for x := range 240 {
				r1, g1, b1, _ := img.At(x, y).RGBA()
				r2, g2, b2, _ := want.At(x, y).RGBA()
				if r1 != r2 || g1 != g2 || b1 != b2 {
					t.Fatalf("pixel (%d, %d) differs from the one-process render", x, y)
				}
			}
		}
	})

	t.Run("exec", func(t *testing.T) {
		workmen(t, "exec", 2, "-cmd", "tr a-z A-Z")
		text := genText(t, 200<<10)
		got := run(t, "fourexec", "-workers", "2", "-cmd", "tr a-z A-Z", "-part-size", "20000", text)
		in, err := os.ReadFile(text)
		if err != nil {
			t.Fatal(err)
		}
		c := exec.Command("tr", "a-z", "A-Z")
		c.Stdin = bytes.NewReader(in)
		want, err := c.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Fatalf("fourexec printed %d bytes differing from tr's %d", len(got), len(want))
		}
		// A job for another program is refused by the workmen, and says so.
		_, errOut, err := runCmd(t, "fourexec", "-park", url, "-q", "-workers", "2", "-cmd", "wc -l", text)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(errOut, `this workman runs "tr a-z A-Z", the task is for "wc -l"`) {
			t.Fatalf("fourexec for another program: %v\n%s", err, errOut)
		}
	})

	t.Run("search", func(t *testing.T) {
		workmen(t, search.Type, 2)
		got := run(t, "search", "-workers", "2", "-prefix", "e2e", "-bits", "16", "-step", "5000")
		nonce, _, err := search.Local(ctx, "e2e", 16)
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(got); len(f) != 2 || f[0] != strconv.FormatInt(nonce, 10) {
			t.Fatalf("search printed %q, one goroutine found %d", got, nonce)
		}
	})

	t.Run("shuffle", func(t *testing.T) {
		workmen(t, "shuffle", 3, "-capacity", "1")
		text := genText(t, 2<<20)
		if got, want := run(t, "shuffle", "-workers", "3", "-part-size", "200000", text), expected(t, text); got != want {
			t.Fatalf("shuffle printed %d bytes, not the %d of a single-threaded count", len(got), len(want))
		}
	})

	t.Run("terasort", func(t *testing.T) {
		workmen(t, terasort.Type, 2)
		dir, err := os.MkdirTemp(dataDir, "sort-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		in := filepath.Join(dir, "in.dat")
		if _, errOut, err := runCmd(t, "terasort", "-gen", "50000", in); err != nil {
			t.Fatalf("terasort -gen: %v\n%s", err, errOut)
		}
		out := filepath.Join(dir, "out")
		got := run(t, "terasort", "-workers", "2", "-out", out, in)
		var parts []terasort.Part
		for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
			path, _, _ := strings.Cut(line, "\t")
			parts = append(parts, terasort.Part{Path: path})
		}
		var sorted bytes.Buffer
		if err := terasort.Concat(&sorted, parts); err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(dir, "want.dat")
		if err := terasort.Local(in, want); err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 2 || !bytes.Equal(sorted.Bytes(), w) {
			t.Fatalf("%d parts of %d bytes, not the %d bytes sorted", len(parts), sorted.Len(), len(w))
		}
	})

	t.Run("paramserver", func(t *testing.T) {
		workmen(t, "ps", 2)
		workmen(t, "trainer", 2)
		// The workers named in the tasks, then found by type in the
		// registry (this park has no other ps or trainer workmen).
		for _, byType := range []string{"-by-type=false", "-by-type"} {
			got := run(t, "paramserver", byType, "-servers", "2", "-workers", "2", "-features", "10", "-samples", "300", "-steps", "10")
			if !strings.Contains(got, "largest difference from one process: 0\n") {
				t.Fatalf("paramserver %s printed %q", byType, got)
			}
		}
	})
}
