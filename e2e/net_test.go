package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"

	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/e2e/netsim"
)

// Network tests: every process on a simulated host of its own (see
// e2e/netsim), a network fault injected while a job runs, and the exact
// result read from the foreman's output.

// netForeman runs the wordcount command on h in the background; wait
// returns its stdout and stderr once it exits (it is killed after two
// minutes).
func netForeman(t *testing.T, h *netsim.Host, args ...string) (wait func() (stdout, stderr string, err error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := h.Command(filepath.Join(binDir, "wordcount"), withAuth("wordcount", args)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var err error
	done := make(chan struct{}) // closed once cmd exited, err set
	go func() {
		<-ctx.Done()
		_ = cmd.Process.Kill()
	}()
	go func() { err = cmd.Wait(); cancel(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return func() (string, string, error) {
		<-done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && err != nil {
			return out.String(), errOut.String(), errors.Join(err, errors.New("killed after 2 minutes"))
		}
		return out.String(), errOut.String(), err
	}
}

// untilTasks waits until the task log at path has n lines (tasks started).
func untilTasks(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(path)
		if bytes.Count(b, []byte("\n")) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d tasks after a minute, want %d", path, bytes.Count(b, []byte("\n")), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A workman cut off from the park, but not from its foreman, mid-job:
// its lease ends at the park, but the foreman reaches it directly (mesh)
// and keeps it: the count is exact. Then the reverse, a workman cut off
// from its foreman but not from the park: the foreman counts it lost and
// its tasks go to the other workman; exact again (nothing counted twice,
// nothing lost). The same when only the foreman's packets to it are
// lost.
func TestNetWorkmanCutOff(t *testing.T) {
	for _, from := range []string{"park", "foreman", "foreman, one way"} {
		t.Run("from the "+from, func(t *testing.T) {
			n := netsim.New(t)
			hp, h0, h1, hf := n.Host("park"), n.Host("w0"), n.Host("w1"), n.Host("foreman")
			text := genText(t, 6<<20)
			want := expected(t, text)
			url := "nats://" + hp.Addr + ":4222"
			startOn(t, hp, "park server ready at ", "parkserver", "-listen", hp.Addr+":4222", "-store", t.TempDir())
			tasks := filepath.Join(t.TempDir(), "w0.tasks")
			startOn(t, h0, " ready", "chaosworkman", "-park", url, "-id", "w0", "-listen", h0.Addr+":0", "-sleep-ms", "200", "-tasklog", tasks)
			startOn(t, h1, " ready", "chaosworkman", "-park", url, "-id", "w1", "-listen", h1.Addr+":0", "-sleep-ms", "200")
			wait := netForeman(t, hf, "-park", url, "-workers", "2", "-part-size", "65536", "-v", "-q", text)
			untilTasks(t, tasks, 3)
			cut := time.Now()
			switch from {
			case "park":
				n.Partition([]*netsim.Host{h0}, []*netsim.Host{hp})
			case "foreman":
				n.Partition([]*netsim.Host{h0}, []*netsim.Host{hf})
			default: // the foreman's packets to w0 are lost, w0's to it arrive
				n.OneWay(hf, h0)
			}
			out, errOut, err := wait()
			if err != nil {
				t.Fatalf("wordcount: %v\n%s", err, errOut)
			}
			t.Logf("the job ended %v after the cut", time.Since(cut).Round(time.Millisecond))
			if out != want {
				t.Fatalf("output differs from a single-threaded count: %d bytes, want %d\n%s", len(out), len(want), errOut)
			}
			lost := 0
			for line := range strings.Lines(errOut) {
				if strings.Contains(line, "worker lost") && strings.Contains(line, `"worker": "w0"`) && strings.Contains(line, "stopped answering pings") {
					lost++
				}
			}
			if want := map[bool]int{true: 0, false: 1}[from == "park"]; lost != want {
				t.Fatalf("cut from the %s, the foreman's log says w0 lost (pings unanswered) %d times, want %d\n%s", from, lost, want, errOut)
			}
		})
	}
}
