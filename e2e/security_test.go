package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/security"
	"github.com/fourinone-go/fourinone/splitter"
	"github.com/fourinone-go/fourinone/warehouse"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// attacker is a connection with a member's credential whose refused
// actions show as the server's permission errors.
type attacker struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func connectAs(t *testing.T, url, role, name string) *attacker {
	t.Helper()
	a := &attacker{errs: make(chan error, 100)}
	nc, err := nats.Connect(url, nats.UserCredentials(credsFile(role, name)),
		nats.CustomInboxPrefix(security.InboxPrefix+"."+name),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case a.errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	a.nc = nc
	a.js, _ = jetstream.New(nc)
	return a
}

// refused runs do and waits (10 s at most) for the server's permission
// error naming subject.
func (a *attacker) refused(t *testing.T, what, subject string, do func() error) {
	t.Helper()
	err := do()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-a.errs:
			if errors.Is(e, nats.ErrPermissionViolation) && strings.Contains(e.Error(), `"`+subject+`"`) {
				return
			}
		case <-timeout:
			t.Fatalf("%s: no permission violation for %q (the call returned %v)", what, subject, err)
		}
	}
}

// TestCredentialsLeastPrivilege: with per-role credentials, a workman's
// cannot read another worker's tasks (on the park or on a mesh listener),
// subscribe to everything, write another member's registry entry, touch
// claims, delete the registry bucket or cancel another caller's calls; a
// foreman's cannot serve as a workman, register as one or delete the
// bucket; nobody gets in without a credential. Then a job still counts
// exactly (the allowed paths: every other e2e test runs with credentials
// too).
func TestCredentialsLeastPrivilege(t *testing.T) {
	url := startPark(t)
	start(t, " ready", "workman", "-type", "wordcount", "-park", url, "-mode", "hub", "-id", "hubw")
	start(t, " ready", "workman", "-type", "wordcount", "-park", url, "-mode", "mesh", "-id", "meshw")
	mesh := workmanEndpoint(t, url, "meshw")

	w := connectAs(t, url, security.RoleWorkman, "evil")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, subj := range []string{"fi.w.hubw.task", ">", "fi.w.*.task", "$KV.fourinone_registry.>"} {
		w.refused(t, "workman subscribes", subj, func() error { _, err := w.nc.Subscribe(subj, func(*nats.Msg) {}); return err })
	}
	onMesh := connectAs(t, mesh.URL, security.RoleWorkman, "evil")
	for _, subj := range []string{"fi.w.meshw.task", ">"} {
		onMesh.refused(t, "workman subscribes on a mesh listener", subj, func() error {
			_, err := onMesh.nc.Subscribe(subj, func(*nats.Msg) {})
			return err
		})
	}
	kv, err := w.js.KeyValue(ctx, "fourinone_registry")
	if err != nil {
		t.Fatalf("a workman cannot read the registry: %v", err)
	}
	put := func(key string) func() error {
		return func() error {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err := kv.Put(pctx, key, []byte(`{}`))
			return err
		}
	}
	w.refused(t, "workman writes another's entry", "$KV.fourinone_registry.workman.hubw", put("workman.hubw"))
	w.refused(t, "workman deletes another's entry", "$KV.fourinone_registry.workman.meshw", func() error {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return kv.Delete(dctx, "workman.meshw")
	})
	w.refused(t, "workman registers as a foreman", "$KV.fourinone_registry.foreman.evil", put("foreman.evil"))
	w.refused(t, "workman touches a claim", "$KV.fourinone_registry.claim.hubw", put("claim.hubw"))
	w.refused(t, "workman deletes the bucket", "$JS.API.STREAM.DELETE.KV_fourinone_registry", func() error {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return w.js.DeleteKeyValue(dctx, "fourinone_registry")
	})
	w.refused(t, "workman cancels another's call", "fi.w.hubw.cancel.f1", func() error {
		return w.nc.Publish("fi.w.hubw.cancel.f1", []byte("_INBOX.f1.x.1"))
	})
	w.refused(t, "workman sends a task", "fi.w.hubw.task", func() error { return w.nc.Publish("fi.w.hubw.task", nil) })

	f := connectAs(t, url, security.RoleForeman, "evilf")
	f.refused(t, "foreman serves as a workman", "fi.w.evilf.task", func() error {
		_, err := f.nc.Subscribe("fi.w.evilf.task", func(*nats.Msg) {})
		return err
	})
	fkv, err := f.js.KeyValue(ctx, "fourinone_registry")
	if err != nil {
		t.Fatal(err)
	}
	f.refused(t, "foreman registers as a workman", "$KV.fourinone_registry.workman.evilf", func() error {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := fkv.Put(pctx, "workman.evilf", []byte(`{}`))
		return err
	})
	f.refused(t, "foreman deletes the bucket", "$JS.API.STREAM.DELETE.KV_fourinone_registry", func() error {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return f.js.DeleteKeyValue(dctx, "fourinone_registry")
	})
	f.refused(t, "foreman cancels another's call", "fi.w.meshw.cancel.f1", func() error {
		return f.nc.Publish("fi.w.meshw.cancel.f1", []byte("_INBOX.f1.x.1"))
	})
	f.refused(t, "foreman writes another foreman's job", "fourinone.job.f1.j1", func() error {
		return f.nc.Publish("fourinone.job.f1.j1", []byte(`{}`))
	})
	f.refused(t, "foreman cancels a job", "fourinone.jobcancel.f1.j1", func() error {
		return f.nc.Publish("fourinone.jobcancel.f1.j1", nil)
	})
	f.refused(t, "foreman takes another foreman's cancels", "fourinone.jobcancel.f1.*", func() error {
		_, err := f.nc.Subscribe("fourinone.jobcancel.f1.*", func(*nats.Msg) {})
		return err
	})
	w.refused(t, "workman writes a job", "fourinone.job.hubw.j1", func() error {
		return w.nc.Publish("fourinone.job.hubw.j1", []byte(`{}`))
	})

	for _, u := range []string{url, mesh.URL} {
		if nc, err := nats.Connect(u); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
			if nc != nil {
				nc.Close()
			}
			t.Fatalf("a connection without a credential to %s: %v, want an authorization violation", u, err)
		}
	}

	// The registry is whole and a job counts exactly.
	text := genText(t, 1<<20)
	want := expected(t, text)
	out, errOut, err := runForeman(t, "-park", url, "-workers", "2", "-part-size", "100000", text)
	if err != nil || out != want {
		t.Fatalf("wordcount after the attacks: %v (%d bytes of output, want %d)\n%s", err, len(out), len(want), errOut)
	}
}

// TestNoSecretInSight: a token written in park URLs is taken out of them:
// the registry, the dashboard, the logs and the error messages of a full
// run never show it, and the mesh listeners require it.
func TestNoSecretInSight(t *testing.T) {
	const secret = "Zq7secretTOKENxx"
	park, line := start(t, "park server ready at ", "parkserver", "-listen", "127.0.0.1:0", "-store", t.TempDir(), "-token", secret, "-http", "127.0.0.1:0")
	url := strings.TrimPrefix(line, "park server ready at ")
	dash := strings.TrimSuffix(strings.TrimPrefix(<-park.lines, "dashboard at "), "/")
	procs := []*proc{park}
	withSecret := strings.Replace(url, "nats://", "nats://"+secret+"@", 1)
	for i, mode := range []string{"mesh", "hub"} {
		p, _ := start(t, " ready", "workman", "-type", "wordcount", "-park", withSecret, "-mode", mode, "-id", fmt.Sprintf("w%d", i))
		procs = append(procs, p)
	}
	text := genText(t, 1<<20)
	want := expected(t, text)
	out, errOut, err := runForeman(t, "-park", withSecret, "-workers", "2", "-part-size", "100000", text)
	if err != nil || out != want {
		t.Fatalf("wordcount: %v (%d bytes of output, want %d)\n%s", err, len(out), len(want), errOut)
	}
	// Error messages: a wrong token in the URL, a URL with a password.
	var shown []string
	for _, park := range []string{strings.Replace(url, "nats://", "nats://WRONG"+secret+"@", 1),
		strings.Replace(url, "nats://", "nats://user:"+secret+"@", 1)} {
		_, errOut, err := runCmd(t, "fourinone", "-park", park, "works")
		if err == nil {
			t.Fatalf("fourinone works with a bad URL succeeded")
		}
		shown = append(shown, errOut)
	}
	// The mesh listener takes the park's token and nothing less.
	ep := workmanEndpoint(t, withSecret, "w0")
	if strings.Contains(ep.URL, secret) {
		t.Fatalf("the registry shows the token: %s", ep.URL)
	}
	if nc, err := nats.Connect(ep.URL); err == nil || !strings.Contains(err.Error(), "Authorization Violation") {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("a connection without the token to the mesh listener: %v", err)
	}
	for _, path := range []string{"/", "/api/registry", "/metrics"} {
		resp, err := http.Get(dash + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		shown = append(shown, string(b))
	}
	if hub := workmanEndpoint(t, withSecret, "w1"); hub.URL != url {
		t.Fatalf("the hub workman advertises %q, want %q", hub.URL, url)
	}
	// The logs of the test's processes (the commands' are in shown).
	shown = append(shown, errOut)
	for _, p := range procs {
		shown = append(shown, p.errText())
	}
	for _, s := range shown {
		if strings.Contains(s, secret) {
			t.Fatalf("the token shows in: %s", s)
		}
	}
}

// TestWorkerReadsOnlyItsData: a word-count workman refuses a task naming a
// file outside its data directory (/etc/passwd, its own environment, "..",
// a symbolic link out) with an exception, and keeps counting.
func TestWorkerReadsOnlyItsData(t *testing.T) {
	url := startPark(t)
	start(t, " ready", "workman", "-type", "wordcount", "-park", url, "-id", "reader")
	ep := workmanEndpoint(t, url, "reader")
	nc, err := wire.Connect(ep.URL, adminConn("reader-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, err := wire.NewClient(nc, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	link := filepath.Join(dataDir, "link-out.txt")
	if err := os.Symlink("/etc/hostname", link); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(link) })
	inside := genText(t, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func(path string) (*warehouse.Warehouse, error) {
		task := warehouse.New()
		task.SetString(splitter.KeyPath, path)
		task.SetInt64(splitter.KeyOffset, 0)
		task.SetInt64(splitter.KeyLength, 100)
		body, _ := task.MarshalBinary()
		out, err := c.Call(ctx, wire.TaskSubject(ep.Subject), wire.CancelSubject(ep.Subject), nil, body)
		if err != nil {
			return nil, err
		}
		res, err := warehouse.Decode(out)
		if err != nil {
			return nil, err
		}
		if res.Status() == warehouse.StatusException {
			return nil, errors.New(res.Message())
		}
		return res, nil
	}
	for _, path := range []string{"/etc/passwd", "/proc/self/environ", filepath.Join(dataDir, "..", "auth", "account.nk"), "../auth/account.nk", link} {
		if _, err := call(path); err == nil || !strings.Contains(err.Error(), "outside the data directory") {
			t.Errorf("a task naming %s: %v, want a refusal", path, err)
		}
	}
	if res, err := call(inside); err != nil {
		t.Fatalf("a task naming a file in the data directory: %v", err)
	} else if words, _ := res.Strings("words"); len(words) == 0 {
		t.Fatal("a task in the data directory counted no words")
	}
}
