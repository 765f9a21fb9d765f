package security

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ClusterSecretFile is the file NewClusterSecret writes in its directory.
const ClusterSecretFile = "cluster.secret"

// minSecret is the shortest secret ReadSecret takes: 16 characters.
const minSecret = 16

// NewClusterSecret writes a random secret (32 bytes, base64url) to
// dir/cluster.secret, readable by its owner only, and returns its path. It
// does not overwrite a file already there.
func NewClusterSecret(dir string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, ClusterSecretFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = fmt.Fprintln(f, base64.RawURLEncoding.EncodeToString(b))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return path, err
}

// ReadSecret reads a secret from the first line of the file at path. An
// empty or short secret (under 16 characters) is refused; the error never
// holds the file's contents.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: secret: %v", ErrConfig, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSpace(line)
	if len(line) < minSecret {
		return "", fmt.Errorf("%w: secret file %s: its first line holds %d characters, want %d or more", ErrConfig, path, len(line), minSecret)
	}
	return line, nil
}
