package e2e

import (
	"testing"

	"github.com/fourinone-go/fourinone/security"
	"github.com/nats-io/nats.go"
)

// TestTLSEverywhere: a park server and mesh listeners with TLS and client
// certificates required; workmen (mesh and hub) and a foreman with the CA
// and a certificate count words exactly; a plaintext client, and a TLS
// client without a certificate, are refused by the park and by a mesh
// listener.
func TestTLSEverywhere(t *testing.T) {
	files, err := security.DevCertificates(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tlsArgs := []string{"-tls-ca", files.CA, "-tls-cert", files.Cert, "-tls-key", files.Key}
	url := startPark(t, append(tlsArgs, "-tls-verify")...)
	for i, mode := range []string{"mesh", "hub"} {
		start(t, " ready", "workman", append([]string{"-type", "wordcount", "-park", url, "-mode", mode,
			"-id", []string{"tlsmesh", "tlshub"}[i], "-tls-verify"}, tlsArgs...)...)
	}
	text := genText(t, 1<<20)
	want := expected(t, text)
	out, errOut, err := runForeman(t, append([]string{"-park", url, "-workers", "2", "-part-size", "100000"}, append(tlsArgs, text)...)...)
	if err != nil || out != want {
		t.Fatalf("wordcount over TLS: %v (%d bytes of output, want %d)\n%s", err, len(out), len(want), errOut)
	}
	opts := adminConn("e2e")
	opts.Security.TLS = files
	mesh := workmanEndpointWith(t, url, opts, "tlsmesh")
	for _, u := range []string{url, mesh.URL} {
		nc, err := nats.Connect(u, nats.UserCredentials(credsFile(security.RoleAdmin, "e2e")))
		if err == nil {
			nc.Close()
			t.Fatalf("a plaintext client got into %s", u)
		}
		noCert, _ := security.TLS{CA: files.CA}.ClientConfig()
		nc, err = nats.Connect(u, nats.Secure(noCert), nats.UserCredentials(credsFile(security.RoleAdmin, "e2e")))
		if err == nil {
			nc.Close()
			t.Fatalf("a TLS client without a certificate got into %s", u)
		}
	}
}
