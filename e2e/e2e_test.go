// Package e2e runs the framework as a user does: parkserver, workman and
// the word-count foreman as separate processes on 127.0.0.1.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/e2e/netsim"
	"github.com/fourinone-go/fourinone/examples/wordcount"
	"github.com/fourinone-go/fourinone/internal/registry"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/security"
	"github.com/nats-io/nats.go"
)

// binDir holds the commands built for the tests; dataDir the texts the
// workmen count.
var binDir, dataDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fourinone-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir, dataDir = dir, filepath.Join(dir, "data")
	err = os.Mkdir(dataDir, 0o755)
	if err == nil {
		err = initAuth(filepath.Join(dir, "auth"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-o", dir+"/",
		"../cmd/parkserver", "../cmd/workman", "../examples/wordcount/cmd/wordcount", "./chaosworkman", "./chaosforeman", "./chaosjobs", "./slowlink", "../cmd/contractor", "../cmd/fourinone",
		"../examples/lock", "../examples/leader", "../examples/config",
		"../examples/factors/cmd/factors", "../examples/mandelbrot/cmd/mandelbrot", "../examples/exec/cmd/fourexec", "../examples/search/cmd/search",
		"../examples/shuffle/cmd/shuffle", "../examples/terasort/cmd/terasort", "../examples/paramserver/cmd/paramserver")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running process of ours, stopped at cleanup.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string // stdout lines
	stderr string      // file with its stderr
	done   chan struct{}
}

// start runs bin with args and waits for a stdout line containing ready,
// which it returns. The process is stopped at cleanup.
// Workmen read their files in dataDir (genText's) unless args say where.
func start(t *testing.T, ready string, bin string, args ...string) (*proc, string) {
	t.Helper()
	return startOn(t, nil, ready, bin, args...)
}

// startOn is start on simulated host h (nil: this machine).
func startOn(t *testing.T, h *netsim.Host, ready string, bin string, args ...string) (*proc, string) {
	t.Helper()
	if (bin == "workman" || bin == "chaosworkman") && !slices.Contains(args, "-data-dir") {
		args = append(args, "-data-dir", dataDir)
	}
	p, line, err := startProcOn(h, 30*time.Second, t.TempDir(), ready, bin, args...)
	if p != nil {
		t.Cleanup(func() { p.stop(t) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, line
}

// startProc starts bin with args, its stderr in a file in dir, and waits
// for a stdout line containing ready. It may run on any goroutine; the
// caller stops the process.
func startProc(dir, ready string, bin string, args ...string) (*proc, string, error) {
	return startProcWithin(30*time.Second, dir, ready, bin, args...)
}

// startProcWithin is startProc waiting up to within for the ready line.
func startProcWithin(within time.Duration, dir, ready string, bin string, args ...string) (*proc, string, error) {
	return startProcOn(nil, within, dir, ready, bin, args...)
}

// startProcOn is startProcWithin on simulated host h (nil: this machine).
func startProcOn(h *netsim.Host, within time.Duration, dir, ready string, bin string, args ...string) (*proc, string, error) {
	cmd := exec.Command(filepath.Join(binDir, bin), withAuth(bin, args)...)
	if h != nil {
		cmd = h.Command(filepath.Join(binDir, bin), withAuth(bin, args)...)
	}
	errFile, err := os.CreateTemp(dir, bin+"-*.stderr")
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = errFile
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	p := &proc{cmd: cmd, lines: make(chan string, 100), stderr: errFile.Name(), done: make(chan struct{})}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(p.lines)
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case p.lines <- s.Text():
			default: // nobody reads past the ready line
			}
		}
	}()
	// Wait closes the pipe: only once everything in it was read.
	go func() { <-read; _ = cmd.Wait(); errFile.Close(); close(p.done) }()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return p, "", fmt.Errorf("%s exited before it was ready: %s", bin, p.errText())
			}
			if strings.Contains(l, ready) {
				return p, l, nil
			}
		case <-deadline:
			return p, "", fmt.Errorf("%s not ready after %v: %s", bin, within, p.errText())
		}
	}
}

func (p *proc) errText() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

// stop sends SIGTERM (after SIGCONT, for a stopped process) and waits;
// after 10s it kills.
func (p *proc) stop(t *testing.T) {
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("%s ignored SIGTERM for 10s; killing it", p.cmd.Path)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// openRegistry opens the registry of the park at url, on a connection
// closed at cleanup.
func openRegistry(t *testing.T, url string) *registry.Registry {
	t.Helper()
	return openOnPark(t, url, registry.Open)
}

// openOnPark connects to the park at url (closed at cleanup) and opens a
// client of it with open, within 10 s.
func openOnPark[C any](t *testing.T, url string, open func(context.Context, *nats.Conn) (C, error)) C {
	t.Helper()
	return openOnParkWith(t, url, parkConn(url), open)
}

// parkConn is how the tests connect to a park: with the URL's token if it
// has one, else with an admin credential.
func parkConn(url string) wire.ConnOptions {
	if strings.Contains(url, "@") {
		return wire.ConnOptions{Name: "e2e"}
	}
	return adminConn("e2e")
}

// openOnParkWith is openOnPark connecting with opts.
func openOnParkWith[C any](t *testing.T, url string, opts wire.ConnOptions, open func(context.Context, *nats.Conn) (C, error)) C {
	t.Helper()
	nc, err := wire.Connect(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := open(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startPark(t *testing.T, args ...string) string {
	t.Helper()
	const ready = "park server ready at "
	_, line := start(t, ready, "parkserver", append([]string{"-listen", "127.0.0.1:0", "-store", t.TempDir()}, args...)...)
	return strings.TrimPrefix(line, ready)
}

func genText(t *testing.T, size int64) string {
	t.Helper()
	f, err := os.CreateTemp(dataDir, "text-*.txt")
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	t.Cleanup(func() { _ = os.Remove(path) })
	if err := wordcount.Generate(f, size, 7); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func expected(t *testing.T, paths ...string) string {
	t.Helper()
	counts, err := wordcount.CountLocal(paths...)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := wordcount.Write(&b, counts, 0); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func runForeman(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCmd(t, "wordcount", args...)
}

// runCmd runs one of our commands to its end (two minutes at most).
func runCmd(t *testing.T, bin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCmdWithin(t, 2*time.Minute, bin, args...)
}

// runCmdWithin is runCmd with its own limit.
func runCmdWithin(t *testing.T, within time.Duration, bin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, bin), withAuth(bin, args)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func TestWordCountThreeProcesses(t *testing.T) {
	text := genText(t, 6<<20)
	want := expected(t, text)
	for _, mode := range []string{"mesh", "hub"} {
		for _, ship := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s ship=%v", mode, ship), func(t *testing.T) {
				url := startPark(t, "-token", "tok")
				for range 2 {
					start(t, " ready", "workman", "-type", "wordcount", "-park", url, "-mode", mode, "-token", "tok")
				}
				args := []string{"-park", url, "-workers", "2", "-token", "tok", "-part-size", "500000"}
				if ship {
					args = append(args, "-ship")
				}
				out, errOut, err := runForeman(t, append(args, text)...)
				if err != nil {
					t.Fatalf("wordcount: %v\n%s", err, errOut)
				}
				if out != want {
					t.Fatalf("output differs from a single-threaded count: %d bytes, want %d", len(out), len(want))
				}
			})
		}
	}
}

// workmanIDs returns the ids of the live workmen in the park's registry.
func workmanIDs(t *testing.T, reg *registry.Registry) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := reg.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range snap.Workmen("") {
		ids[m.ID] = true
	}
	return ids
}

func TestKilledWorkmanLeavesRegistry(t *testing.T) {
	url := startPark(t)
	reg := openRegistry(t, url)
	victim, _ := start(t, " ready", "workman", "-type", "noop", "-park", url, "-id", "victim")
	start(t, " ready", "workman", "-type", "noop", "-park", url, "-id", "survivor")
	if ids := workmanIDs(t, reg); !ids["victim"] || !ids["survivor"] {
		t.Fatalf("registry after start = %v, want victim and survivor", ids)
	}
	if err := victim.cmd.Process.Kill(); err != nil { // SIGKILL: no goodbye
		t.Fatal(err)
	}
	<-victim.done
	killed := time.Now()
	deadline := time.After(10 * time.Second)
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for workmanIDs(t, reg)["victim"] {
		select {
		case <-deadline:
			t.Fatal("a killed workman is still registered 10s later")
		case <-poll.C:
		}
	}
	t.Logf("killed workman left the registry after %v (lease %v)", time.Since(killed).Round(time.Millisecond), reg.Lease())
	if ids := workmanIDs(t, reg); !ids["survivor"] {
		t.Fatalf("registry after the kill = %v, want the survivor", ids)
	}
}

func TestRefusals(t *testing.T) {
	url := startPark(t, "-token", "right")
	text := genText(t, 1000)
	shortSecret, longSecret := filepath.Join(t.TempDir(), "short"), filepath.Join(t.TempDir(), "long")
	if err := os.WriteFile(shortSecret, []byte("pw1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(longSecret, []byte("pw1234-pw1234-pw1234\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		bin  string
		args []string
		code int
		msg  string
	}{
		{"workman without token", "workman", []string{"-type", "noop", "-park", url}, 1, "Authorization Violation"},
		{"workman wrong token", "workman", []string{"-type", "noop", "-park", url, "-token", "wrong"}, 1, "Authorization Violation"},
		{"unknown worker type", "workman", []string{"-type", "bogus", "-park", url}, 2, `unknown -type "bogus"`},
		{"bad mode", "workman", []string{"-type", "noop", "-mode", "star", "-park", url}, 2, `mode "star"`},
		{"park bad flag", "parkserver", []string{"-bogus"}, 2, "flag provided but not defined"},
		{"park bad lease", "parkserver", []string{"-lease", "1ms"}, 2, "lease 1ms is below 100ms"},
		{"foreman no workers", "wordcount", []string{"-park", url, "-token", "right", "-wait", "300ms", text}, 1, `no waiting workers of type "wordcount"`},
		{"foreman no files", "wordcount", []string{}, 2, "usage"},
		{"foreman missing file", "wordcount", []string{filepath.Join(t.TempDir(), "nope.txt")}, 1, "nope.txt"},
		{"token and credentials", "workman", []string{"-type", "noop", "-park", url, "-token", "right", "-creds", credsFile(security.RoleWorkman, "x")}, 2, "a token and a credentials file"},
		{"missing credentials", "workman", []string{"-type", "noop", "-park", url, "-creds", filepath.Join(t.TempDir(), "nope.creds")}, 2, "nope.creds"},
		{"a foreman's credential", "workman", []string{"-type", "noop", "-park", url, "-creds", credsFile(security.RoleForeman, "y")}, 2, "not a workman's"},
		{"id not the credential's", "workman", []string{"-type", "noop", "-park", url, "-id", "z", "-creds", credsFile(security.RoleWorkman, "x")}, 2, `the credential is for "x"`},
		{"password in a URL", "workman", []string{"-type", "noop", "-park", "nats://u:pw1234@127.0.0.1:1"}, 2, "nats://REDACTED@127.0.0.1:1 has a user and password"},
		{"park token and credentials", "parkserver", []string{"-listen", "127.0.0.1:0", "-token", "x", "-auth", authDir}, 1, "a token and per-role credentials"},
		{"park no auth directory", "parkserver", []string{"-listen", "127.0.0.1:0", "-auth", t.TempDir()}, 1, "operator.jwt"},
		{"creds bad role", "parkserver", []string{"creds", "user", "-dir", authDir, "-role", "king", "-name", "x"}, 2, `role "king"`},
		{"workman id with a space and wildcards", "workman", []string{"-type", "noop", "-park", url, "-id", "a b.c*"}, 2,
			`workman: -id "a b.c*": use letters, digits, '-' and '_', at most 128` + "\n"},
		{"workman id of 129 characters", "workman", []string{"-type", "noop", "-park", url, "-id", strings.Repeat("a", 129)}, 2, "at most 128"},
		{"contractor id with a dot", "contractor", []string{"-type", "noop", "-park", url, "-id", "a.b"}, 2, `contractor: -id "a.b": use letters`},
		{"park name with a wildcard", "parkserver", []string{"-listen", "127.0.0.1:0", "-name", "p>"}, 2, `parkserver: -name "p>": use letters`},
		{"dashboard streams negative", "parkserver", []string{"-listen", "127.0.0.1:0", "-http-streams", "-1"}, 2, "-1 event streams"},
		{"dashboard off loopback without a token", "parkserver", []string{"-listen", "127.0.0.1:0", "-http", "0.0.0.0:0"}, 1, "-http-token"},
		{"short cluster secret", "parkserver", []string{"-listen", "127.0.0.1:0", "-name", "p1", "-cluster", "127.0.0.1:1", "-cluster-secret-file", shortSecret}, 2,
			"holds 6 characters, want 16 or more"},
		{"route TLS without its CA", "parkserver", []string{"-listen", "127.0.0.1:0", "-name", "p1", "-cluster", "127.0.0.1:1", "-cluster-tls-cert", "c.pem", "-cluster-tls-key", "k.pem"}, 2,
			"needs -cluster-tls-cert, -cluster-tls-key and -cluster-tls-ca"},
		{"route secret without a cluster", "parkserver", []string{"-listen", "127.0.0.1:0", "-cluster-secret-file", longSecret}, 2, "without -cluster"},
		{"route with credentials in it", "parkserver", []string{"-listen", "127.0.0.1:0", "-name", "p1", "-cluster", "127.0.0.1:1", "-routes", "nats-route://park:pw1234@127.0.0.1:1"}, 1,
			"route nats-route://REDACTED@127.0.0.1:1 has credentials in it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(binDir, tt.bin), tt.args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != tt.code || !strings.Contains(out.String(), tt.msg) {
				t.Fatalf("exit %d (%v), output %q; want exit %d and %q", code, err, out.String(), tt.code, tt.msg)
			}
			if strings.Contains(out.String(), "pw1234") {
				t.Fatalf("the output shows a password: %q", out.String())
			}
		})
	}
}
