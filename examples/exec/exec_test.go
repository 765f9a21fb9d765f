package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// input writes two files of numbered lines and returns their paths and
// their concatenation.
func input(t *testing.T) ([]string, []byte) {
	t.Helper()
	var all []byte
	var paths []string
	for f := range 2 {
		var b bytes.Buffer
		for i := range 3000 {
			b.WriteString(strings.Repeat("ab", f+i%7))
			b.WriteString(" line ")
			b.WriteString(string(rune('a' + i%26)))
			b.WriteString("\n")
		}
		p := filepath.Join(t.TempDir(), "in.txt")
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
		all = append(all, b.Bytes()...)
	}
	return paths, all
}

// local runs cmd on in in this process: what the tasks' outputs must add
// up to, for programs that map lines one to one.
func local(t *testing.T, cmd string, in []byte) []byte {
	t.Helper()
	c := osexec.Command("sh", "-c", cmd)
	c.Stdin = bytes.NewReader(in)
	out, err := c.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStream: tr on two workers prints exactly what tr on the whole
// input prints; wc -l gives one count per task, in input order, summing to
// the input's lines; a failing program fails the job with its status and
// stderr; a worker refuses a task for another program.
func TestStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	paths, all := input(t)
	o := Options{Workers: 2, PartSize: 7000}

	o.Cmd = "tr a-z A-Z"
	var out bytes.Buffer
	if err := Stream(ctx, o, &out, paths...); err != nil {
		t.Fatal(err)
	}
	if want := local(t, o.Cmd, all); !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("tr across workers: %d bytes differing from tr's %d", out.Len(), len(want))
	}

	o.Cmd = "wc -l"
	out.Reset()
	if err := Stream(ctx, o, &out, paths...); err != nil {
		t.Fatal(err)
	}
	counts := strings.Fields(out.String())
	sum := 0
	for _, c := range counts {
		n := 0
		for _, d := range c {
			n = 10*n + int(d-'0')
		}
		sum += n
	}
	if len(counts) < 4 || sum != 6000 {
		t.Fatalf("wc -l across workers: %d counts summing to %d, want several summing to 6000", len(counts), sum)
	}

	o.Cmd = "cat >/dev/null; echo the program broke >&2; exit 3"
	err := Stream(ctx, o, &out, paths...)
	var te *foreman.TaskError
	if !errors.As(err, &te) || !strings.Contains(te.Msg, "exit status 3") || !strings.Contains(te.Msg, "stderr: the program broke") {
		t.Fatalf("a failing program: %v", err)
	}

	task := warehouse.New()
	task.SetInt64(KeySeq, 0)
	task.SetString(KeyCmd, "rm -rf /")
	task.SetBytes("data", []byte("x"))
	if _, err := Worker("tr a-z A-Z").DoTask(ctx, task); err == nil || !strings.Contains(err.Error(), `this workman runs "tr a-z A-Z"`) {
		t.Fatalf("a task for another program: %v", err)
	}
}

// TestRunLimits: a program is killed when its task is cancelled, and one
// that writes too much fails.
func TestRunLimits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, "sleep 60", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a cancelled program: %v", err)
	}
	if _, err := Run(context.Background(), "head -c 60000000 /dev/zero", nil); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("a program writing 60 MB: %v", err)
	}
}

// TestTail keeps the last bytes of stderr, however they are written.
func TestTail(t *testing.T) {
	var tl tail
	var all []byte
	for i := range 1000 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, i%300)
		_, _ = tl.Write(p)
		all = append(all, p...)
	}
	if want := string(all[len(all)-stderrTail:]); tl.String() != want {
		t.Fatal("the tail is not the last bytes written")
	}
	_, _ = tl.Write(bytes.Repeat([]byte("z"), 3*stderrTail))
	if tl.String() != strings.Repeat("z", stderrTail) {
		t.Fatal("a big write did not replace the tail")
	}
}

// A task cannot change what an exec worker runs: not the program (a task
// for another is refused, naming both), nor its arguments or environment
// (keys a task adds for them are ignored: the program sees what the
// workman gave it), nor its input file (none outside the data directory).
func TestTaskCannotChangeTheProgram(t *testing.T) {
	const cmd = `echo "args:$#"; echo "preload:${LD_PRELOAD:-none}"; echo "evil:${EVIL:-none}"; cat`
	t.Setenv("EVIL", "")
	t.Setenv("LD_PRELOAD", "")
	w := Worker(cmd)
	ctx := splitter.WithDataDir(context.Background(), t.TempDir())
	task := func() *warehouse.Warehouse {
		in := warehouse.New()
		in.SetInt64(KeySeq, 1)
		in.SetBytes(splitter.KeyData, []byte("hello\n"))
		return in
	}
	other := task()
	other.SetString(KeyCmd, "rm -rf /")
	if _, err := w.DoTask(ctx, other); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("this workman runs %q, the task is for %q", cmd, "rm -rf /")) {
		t.Fatalf("a task for another program: %v", err)
	}
	hostile := task()
	hostile.SetStrings("args", []string{"-c", "echo pwned"})
	hostile.SetStrings("env", []string{"LD_PRELOAD=/tmp/evil.so", "EVIL=1"})
	hostile.SetString("LD_PRELOAD", "/tmp/evil.so")
	hostile.SetString("EVIL", "1")
	hostile.SetString("shell", "/bin/bash")
	hostile.SetString("dir", "/")
	out, err := w.DoTask(ctx, hostile)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := out.Bytes(KeyOutput); string(got) != "args:0\npreload:none\nevil:none\nhello\n" {
		t.Fatalf("the program printed %q, want its own arguments and environment and the task's input", got)
	}
	outside := warehouse.New()
	outside.SetInt64(KeySeq, 2)
	outside.SetString(splitter.KeyPath, "/etc/passwd")
	outside.SetInt64(splitter.KeyOffset, 0)
	outside.SetInt64(splitter.KeyLength, 100)
	if _, err := w.DoTask(ctx, outside); !errors.Is(err, splitter.ErrOutsideDataDir) {
		t.Fatalf("a task reading /etc/passwd: %v, want ErrOutsideDataDir", err)
	}
}
