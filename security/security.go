// Package security is how fourinone's processes prove who they are and
// protect their links: a shared token for one machine, per-role NATS
// credentials (operator, account and user JWTs signed with nkeys) across
// machines, and TLS. See docs/security.md.
package security

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Environment variables the commands read when a flag is not given: a
// secret in a flag shows in ps, one in the environment does not.
const (
	TokenEnv = "FOURINONE_TOKEN"
	CredsEnv = "FOURINONE_CREDS"
)

// ErrConfig is wrapped by every error about a security setting.
var ErrConfig = errors.New("security: invalid config")

// TLS names the files of a TLS setup. For a client: CA verifies the
// servers (the system's roots if blank) and Cert/Key are its certificate
// for servers that verify clients. For a server: Cert/Key are required, and
// with Verify it requires client certificates signed by CA.
type TLS struct {
	CA, Cert, Key string
	Verify        bool
}

// Enabled reports whether any TLS file is set.
func (t TLS) Enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// ClientConfig returns the tls.Config a client dials with.
func (t TLS) ClientConfig() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pool, err := loadCA(t.CA)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS certificate: %v", ErrConfig, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ServerConfig returns the tls.Config a listener serves with.
func (t TLS) ServerConfig() (*tls.Config, error) {
	if t.Cert == "" || t.Key == "" {
		return nil, fmt.Errorf("%w: a TLS listener needs a certificate and its key", ErrConfig)
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: TLS certificate: %v", ErrConfig, err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.Verify {
		if t.CA == "" {
			return nil, fmt.Errorf("%w: verifying clients needs the CA that signs their certificates", ErrConfig)
		}
		pool, err := loadCA(t.CA)
		if err != nil {
			return nil, err
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: TLS CA: %v", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: TLS CA %s holds no PEM certificate", ErrConfig, path)
	}
	return pool, nil
}

// Config is how a process authenticates to the park server and to
// workmen's listeners, and how it protects those links.
type Config struct {
	// Token is a shared secret: whoever holds it may do anything. For one
	// machine.
	Token string
	// Creds is the path of a NATS .creds file (a user JWT and its nkey
	// seed) made by `parkserver creds`: a role's permissions, for one
	// member.
	Creds string
	// TLS is the TLS setup; without it links are plaintext.
	TLS TLS
}

// ClientFlags registers the flags every command that connects has.
func (c *Config) ClientFlags(fs *flag.FlagSet) {
	SecretFlag(fs, &c.Token, "token", TokenEnv, "shared access `token`")
	fs.StringVar(&c.Creds, "creds", os.Getenv(CredsEnv), "NATS credentials file made by `parkserver creds` (default $"+CredsEnv+")")
	c.TLSFlags(fs, "")
}

// SecretFlag registers a string flag for a secret that defaults to the
// environment variable env: -h names the variable but never shows its
// value.
func SecretFlag(fs *flag.FlagSet, p *string, name, env, usage string) {
	*p = os.Getenv(env)
	fs.Var(secretValue{p}, name, usage+" (default $"+env+")")
}

// secretValue is a flag.Value whose String is blank, so that flag's
// usage never prints the secret as a default.
type secretValue struct{ p *string }

func (v secretValue) String() string     { return "" }
func (v secretValue) Set(s string) error { *v.p = s; return nil }

// TLSFlags registers -tls-ca, -tls-cert and -tls-key, and -tls-verify if
// verify says what it is for.
func (c *Config) TLSFlags(fs *flag.FlagSet, verify string) {
	fs.StringVar(&c.TLS.CA, "tls-ca", "", "PEM file of the CA that signs the servers' (and, to verify them, clients') certificates")
	fs.StringVar(&c.TLS.Cert, "tls-cert", "", "PEM file of this process's TLS certificate")
	fs.StringVar(&c.TLS.Key, "tls-key", "", "PEM file of the TLS certificate's key")
	if verify != "" {
		fs.BoolVar(&c.TLS.Verify, "tls-verify", false, verify)
	}
}

// Check reports a setting that cannot work.
func (c Config) Check() error {
	if c.Token != "" && c.Creds != "" {
		return fmt.Errorf("%w: a token and a credentials file: give one", ErrConfig)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return fmt.Errorf("%w: a TLS certificate needs its key, and a key its certificate", ErrConfig)
	}
	return nil
}

// TakeURL returns urls (one server URL or several, comma-separated) without
// the credentials written in them ("nats://TOKEN@host"), which it moves to
// c.Token: nothing that shows, stores or advertises a URL may carry a
// secret. A user and password in a URL are refused (fourinone has no
// password users), as are different tokens, or a token in the URL and
// another given apart.
func (c *Config) TakeURL(urls string) (string, error) {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		raw = strings.TrimSpace(raw)
		if !strings.Contains(raw, "@") {
			parts[i] = raw
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			// Do not echo it: it may hold a secret.
			return "", fmt.Errorf("%w: server URL %d of %d does not parse", ErrConfig, i+1, len(parts))
		}
		if _, hasPass := u.User.Password(); hasPass {
			return "", fmt.Errorf("%w: server URL %s has a user and password: use -token or -creds", ErrConfig, Redact(raw))
		}
		tok := u.User.Username()
		if c.Token != "" && c.Token != tok {
			return "", fmt.Errorf("%w: server URL %s has a token other than the one given", ErrConfig, Redact(raw))
		}
		c.Token = tok
		u.User = nil
		parts[i] = u.String()
	}
	return strings.Join(parts, ","), nil
}

// Redact returns a URL with any credentials in it replaced by "REDACTED",
// for messages about a URL that may hold them.
func Redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		scheme, rest = "", raw
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "REDACTED@" + rest[at+1:]
	}
	if scheme == "" {
		return rest
	}
	return scheme + "://" + rest
}
