package parkserver

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSetAsideStandalone: only a single server's store is set aside, and a
// store set aside earlier is found again, even if the server stopped
// before the cluster's store was made.
func TestSetAsideStandalone(t *testing.T) {
	mk := func(t *testing.T, parts ...string) string {
		dir := t.TempDir()
		if len(parts) > 0 {
			if err := os.MkdirAll(filepath.Join(append([]string{dir}, parts...)...), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, c := range []struct {
		name  string
		parts []string
		aside bool
	}{
		{"new store", nil, false},
		{"a single server's", []string{"jetstream", "$G", "streams", "KV_fourinone_works"}, true},
		{"a cluster server's", []string{"jetstream", "$SYS", "_js_", "_meta_"}, false},
		{"set aside before", []string{standaloneDir, "jetstream", "$G", "streams"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := mk(t, c.parts...)
			got, err := setAsideStandalone(dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, standaloneDir); c.aside && got != want || !c.aside && got != "" {
				t.Fatalf("setAsideStandalone = %q, want aside: %v", got, c.aside)
			}
			if c.aside {
				if _, err := os.Stat(filepath.Join(got, "jetstream", "$G", "streams")); err != nil {
					t.Fatalf("the store set aside: %v", err)
				}
				if _, err := os.Stat(filepath.Join(dir, "jetstream")); !os.IsNotExist(err) {
					t.Fatalf("the store is still where it was: %v", err)
				}
			}
		})
	}
}
