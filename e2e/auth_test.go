package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fourinone-go/fourinone/foreman"
	"github.com/fourinone-go/fourinone/internal/wire"
	"github.com/fourinone-go/fourinone/security"
	"github.com/google/uuid"
)

// The e2e tests run with per-role credentials unless a test gives a park
// -token: every park server gets -auth authDir (one account for the whole
// package), every workman a workman credential for its -id, every foreman,
// contractor and jobs command a foreman credential of its own, and the
// tests' own connections an admin credential.
var (
	authDir string

	credsMu sync.Mutex
	credsOf = map[string]string{} // role/name -> creds file
)

func initAuth(dir string) error {
	authDir = dir
	return security.Init(dir)
}

// credsFile returns a credential for member name in role, made once.
func credsFile(role, name string) string {
	credsMu.Lock()
	defer credsMu.Unlock()
	key := role + "/" + name
	if p, ok := credsOf[key]; ok {
		return p
	}
	b, err := security.NewUser(authDir, role, name)
	if err != nil {
		panic(err)
	}
	p := filepath.Join(authDir, role+"-"+name+".creds")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		panic(err)
	}
	credsOf[key] = p
	return p
}

// adminConn is the connection options of the tests' own clients.
func adminConn(name string) wire.ConnOptions {
	return wire.ConnOptions{Name: name, Security: security.Config{Creds: credsFile(security.RoleAdmin, "e2e")}}
}

// foremanConfig is a foreman.Config with a credential for id (a new name
// if blank).
func foremanConfig(id string) foreman.Config {
	if id == "" {
		id = "f-" + uuid.NewString()[:8]
	}
	return foreman.Config{ID: id, Security: security.Config{Creds: credsFile(security.RoleForeman, id)}}
}

// withAuth adds what a command needs to run with credentials, unless its
// arguments choose a token (or it runs on its own embedded park).
func withAuth(bin string, args []string) []string {
	if slices.Contains(args, "-token") || slices.Contains(args, "-creds") || slices.Contains(args, "-auth") ||
		slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "://") && strings.Contains(a, "@") }) {
		return args // a token, given apart or in a URL
	}
	flagValue := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	switch bin {
	case "parkserver":
		return append(args, "-auth", authDir)
	case "workman", "chaosworkman":
		id := flagValue("-id")
		if id == "" {
			id = "w-" + uuid.NewString()[:8]
			args = append(args, "-id", id)
		}
		return append(args, "-creds", credsFile(security.RoleWorkman, id))
	case "contractor", "chaosforeman":
		id := flagValue("-id")
		if id == "" {
			id = fmt.Sprintf("%s-%s", bin, uuid.NewString()[:8])
			args = append(args, "-id", id)
		}
		return append(args, "-creds", credsFile(security.RoleForeman, id))
	case "lock", "leader", "config", "fourinone":
		// The least role: every member may use the park's coordination
		// and see the cluster; the job center's verbs need a foreman's.
		role := security.RoleWorkman
		if bin == "fourinone" && slices.ContainsFunc(args, func(a string) bool {
			return slices.Contains([]string{"submit", "wait", "resubmit", "works", "work", "-work"}, a)
		}) {
			role = security.RoleForeman
		}
		return append([]string{"-creds", credsFile(role, bin+"-"+uuid.NewString()[:8])}, args...)
	case "wordcount", "chaosjobs", "factors", "mandelbrot", "fourexec", "search", "shuffle", "terasort", "paramserver":
		if flagValue("-park") == "" {
			return args // its own embedded park
		}
		// Flags come before the command's arguments.
		return append([]string{"-creds", credsFile(security.RoleForeman, bin+"-"+uuid.NewString()[:8])}, args...)
	}
	return args
}
