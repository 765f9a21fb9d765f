package security

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
)

func TestTakeURL(t *testing.T) {
	tests := []struct {
		url, given, want, token, err string
	}{
		{url: "nats://127.0.0.1:4222", want: "nats://127.0.0.1:4222"},
		{url: "nats://s3cret@127.0.0.1:4222", want: "nats://127.0.0.1:4222", token: "s3cret"},
		{url: "nats://s3cret@a:1, nats://s3cret@b:2", want: "nats://a:1,nats://b:2", token: "s3cret"},
		{url: "nats://s3cret@a:1", given: "s3cret", want: "nats://a:1", token: "s3cret"},
		{url: "nats://s3cret@a:1", given: "other", err: "a token other than the one given"},
		{url: "nats://s3cret@a:1,nats://x@b:2", err: "a token other than the one given"},
		{url: "nats://user:s3cret@a:1", err: "nats://REDACTED@a:1 has a user and password"},
		{url: "nats://s3cret@[::1", err: "does not parse"},
	}
	for _, tt := range tests {
		c := Config{Token: tt.given}
		got, err := c.TakeURL(tt.url)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrConfig) {
				t.Errorf("TakeURL(%q) = %v, want an error with %q", tt.url, err, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("TakeURL(%q): the error shows the secret: %v", tt.url, err)
			}
			continue
		}
		if err != nil || got != tt.want || c.Token != tt.token {
			t.Errorf("TakeURL(%q) = %q, token %q, %v; want %q, token %q", tt.url, got, c.Token, err, tt.want, tt.token)
		}
	}
}

// Init makes an account whose users carry their name, role and the
// permissions of their role; the trust loads and checks out.
func TestCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	if err := Init(dir); err != nil {
		t.Fatal(err)
	}
	if err := Init(dir); err == nil {
		t.Fatal("Init over an existing account succeeded")
	}
	trust, err := LoadTrust(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, ac, err := trust.Claims()
	if err != nil || ac.Limits.JetStreamLimits.DiskStorage != -1 {
		t.Fatalf("account claims: %v, JetStream %+v", err, ac)
	}
	b, err := NewUser(dir, RoleWorkman, "w1")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Name != "w1" || uc.Issuer != ac.Subject || !slices.Contains(uc.Sub.Allow, "fi.w.w1.>") ||
		slices.Contains(uc.Sub.Allow, "fi.w.*.task") || !slices.Contains(uc.Pub.Allow, "$KV.fourinone_registry.workman.w1") {
		t.Fatalf("workman user: name %q, issuer %q, permissions %+v", uc.Name, uc.Issuer, uc.Permissions)
	}
	for _, bad := range []struct{ role, name string }{{"king", "x"}, {RoleWorkman, "a.b"}, {RoleWorkman, ""}, {RoleWorkman, "*"}} {
		if _, err := NewUser(dir, bad.role, bad.name); !errors.Is(err, ErrConfig) {
			t.Errorf("NewUser(%q, %q) = %v, want ErrConfig", bad.role, bad.name, err)
		}
	}
	if p := Permissions(RoleAdmin, "a"); len(p.Pub.Allow)+len(p.Sub.Allow)+len(p.Pub.Deny)+len(p.Sub.Deny) != 0 {
		t.Fatalf("admin permissions %+v, want none (everything)", p)
	}
	f := Permissions(RoleForeman, "f")
	if slices.ContainsFunc(f.Sub.Allow, func(s string) bool { return strings.HasPrefix(s, "fi.w.") }) ||
		slices.ContainsFunc(f.Pub.Allow, func(s string) bool { return strings.Contains(s, "STREAM.DELETE") }) {
		t.Fatalf("foreman permissions %+v: serving or deleting", f)
	}
}

func TestMayPublish(t *testing.T) {
	id := Identity{Publish: []string{"$KV.fourinone_park.n.app.*", "a.>", "x.*.z"}}
	for subj, want := range map[string]bool{
		"$KV.fourinone_park.n.app.n": true, "$KV.fourinone_park.n.app.n.m": false, "$KV.fourinone_park.n.other.n": false,
		"a.b": true, "a.b.c": true, "a": false, "x.y.z": true, "x.y": false, "x.y.z.w": false,
	} {
		if got := id.MayPublish(subj); got != want {
			t.Errorf("MayPublish(%q) = %v, want %v", subj, got, want)
		}
	}
	if !(Identity{}).MayPublish("anything") {
		t.Error("an identity without limits may not publish")
	}
}

// A secret flag defaults to its environment variable, is overridden by the
// flag, and -h names the variable without showing the value.
func TestSecretFlag(t *testing.T) {
	t.Setenv("FOURINONE_TEST_SECRET", "from-env-s3cret")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "from-env-s3cret"},
		{[]string{"-token", "from-flag"}, "from-flag"},
		{[]string{"-token", ""}, ""},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		var usage strings.Builder
		fs.SetOutput(&usage)
		var tok string
		SecretFlag(fs, &tok, "token", "FOURINONE_TEST_SECRET", "the `token`")
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if tok != tt.want {
			t.Errorf("%q: token %q, want %q", tt.args, tok, tt.want)
		}
		fs.PrintDefaults()
		if u := usage.String(); strings.Contains(u, "s3cret") || !strings.Contains(u, "$FOURINONE_TEST_SECRET") {
			t.Errorf("usage shows the secret or not its variable:\n%s", u)
		}
	}
}

// ReadSecret takes a secret file's first line and refuses a short one
// without printing it; NewClusterSecret writes one it reads, owner only.
func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	path, err := NewClusterSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %v: %v, want mode 0600", fi, err)
	}
	s, err := ReadSecret(path)
	if err != nil || len(s) != 43 {
		t.Fatalf("read %d characters, %v; want 43", len(s), err)
	}
	if _, err := NewClusterSecret(dir); err == nil {
		t.Fatal("a second NewClusterSecret overwrote the first")
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("tiny-pw\nmore text on line two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadSecret(short)
	if !errors.Is(err, ErrConfig) || strings.Contains(err.Error(), "tiny-pw") || !strings.Contains(err.Error(), "holds 7 characters, want 16 or more") {
		t.Fatalf("short secret: %v", err)
	}
}
