package security

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fourinone-go/fourinone/internal/names"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// Roles a user credential is made for.
const (
	// RoleAdmin may do anything: run the park server, delete buckets.
	RoleAdmin = "admin"
	// RoleForeman runs jobs: claims workers, calls DoTask, uses the job
	// center (submits Works, runs them as a contractor).
	RoleForeman = "foreman"
	// RoleWorkman serves tasks under its own name and calls its peers.
	RoleWorkman = "workman"
)

// Roles lists the roles.
var Roles = []string{RoleAdmin, RoleForeman, RoleWorkman}

// Files of an auth directory made by Init. The two .jwt files are public
// (the park server and every mesh listener trust them); the .nk files are
// the signing seeds (secret: whoever holds account.nk can make any
// credential), and park.creds is the park server's own admin credential.
const (
	OperatorJWTFile = "operator.jwt"
	OperatorKeyFile = "operator.nk"
	AccountJWTFile  = "account.jwt"
	SystemJWTFile   = "system.jwt"
	AccountKeyFile  = "account.nk"
	ParkCredsFile   = "park.creds"
)

// AccountName names the one account every member is a user of.
const AccountName = "FOURINONE"

// Init makes an operator, the account, and the park server's credential in
// dir (created if missing; files already there are not overwritten).
func Init(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, AccountKeyFile)); err == nil {
		return fmt.Errorf("%w: %s already holds an account", ErrConfig, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	op, err := nkeys.CreateOperator()
	if err != nil {
		return err
	}
	opPub, _ := op.PublicKey()
	// The system account: NATS's own (JetStream's internal traffic).
	sys, err := nkeys.CreateAccount()
	if err != nil {
		return err
	}
	sysPub, _ := sys.PublicKey()
	sc := jwt.NewAccountClaims(sysPub)
	sc.Name = "SYS"
	sysJWT, err := sc.Encode(op)
	if err != nil {
		return err
	}
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "fourinone"
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(op)
	if err != nil {
		return err
	}
	acc, err := nkeys.CreateAccount()
	if err != nil {
		return err
	}
	accPub, _ := acc.PublicKey()
	ac := jwt.NewAccountClaims(accPub)
	ac.Name = AccountName
	// JetStream is on for the account, without limits of its own.
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := ac.Encode(op)
	if err != nil {
		return err
	}
	opSeed, _ := op.Seed()
	accSeed, _ := acc.Seed()
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{OperatorJWTFile, []byte(opJWT), 0o644}, {AccountJWTFile, []byte(accJWT), 0o644}, {SystemJWTFile, []byte(sysJWT), 0o644},
		{OperatorKeyFile, opSeed, 0o600}, {AccountKeyFile, accSeed, 0o600},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	creds, err := NewUser(dir, RoleAdmin, "park")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ParkCredsFile), creds, 0o600)
}

// NewUser returns a .creds file for member name in role, signed with the
// account seed in dir. The member must run under that name (its workman or
// foreman ID): the permissions name it.
func NewUser(dir, role, name string, opts ...UserOption) ([]byte, error) {
	var o userOpts
	for _, f := range opts {
		f(&o)
	}
	if !slices.Contains(Roles, role) {
		return nil, fmt.Errorf("%w: role %q: one of %q", ErrConfig, role, Roles)
	}
	if !names.ValidID(name) {
		return nil, fmt.Errorf("%w: name %q: want 1 to 128 letters, digits, _ or -", ErrConfig, name)
	}
	seed, err := os.ReadFile(filepath.Join(dir, AccountKeyFile))
	if err != nil {
		return nil, fmt.Errorf("%w: the account's seed: %v", ErrConfig, err)
	}
	acc, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: the account's seed does not parse", ErrConfig)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	userPub, _ := user.PublicKey()
	uc := jwt.NewUserClaims(userPub)
	uc.Name = name
	uc.Tags.Add("role:" + role)
	uc.Permissions = Permissions(role, name, o.parkWrites...)
	userJWT, err := uc.Encode(acc)
	if err != nil {
		return nil, err
	}
	userSeed, _ := user.Seed()
	return jwt.FormatUserConfig(userJWT, userSeed)
}

// UserOption qualifies a credential NewUser makes.
type UserOption func(*userOpts)

type userOpts struct{ parkWrites []string }

// ParkWrites limits the coordination nodes (package park) the user may
// write to those whose subjects match one of subjects (park.DomainSubject
// gives a domain's): it may create, update and delete nodes, take locks
// and stand in elections there only, and read everywhere. Without it, a
// user may write every node.
func ParkWrites(subjects ...string) UserOption {
	return func(o *userOpts) { o.parkWrites = append(o.parkWrites, subjects...) }
}

// Identity is who a .creds file says its holder is.
type Identity struct {
	Name, Role string
	// Publish is what it may publish to (subjects, with wildcards); nil
	// is everything. The server enforces it; a client may check first,
	// to fail at once where the server would drop a message silently.
	Publish []string
}

// MayPublish reports whether the identity may publish to subject.
func (id Identity) MayPublish(subject string) bool {
	return id.Publish == nil || slices.ContainsFunc(id.Publish, func(p string) bool { return subjectMatch(p, subject) })
}

// subjectMatch reports whether subject matches pattern (NATS wildcards:
// "*" a token, ">" the rest).
func subjectMatch(pattern, subject string) bool {
	ps, ss := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, p := range ps {
		if p == ">" {
			return len(ss) > i
		}
		if i >= len(ss) || p != "*" && p != ss[i] {
			return false
		}
	}
	return len(ps) == len(ss)
}

// ReadIdentity reads the name and role of the user in a .creds file.
func ReadIdentity(path string) (Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: credentials: %v", ErrConfig, err)
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: credentials %s: no user JWT", ErrConfig, path)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: credentials %s: the user JWT does not decode", ErrConfig, path)
	}
	id := Identity{Name: uc.Name}
	if allow := uc.Permissions.Pub.Allow; len(allow) > 0 {
		id.Publish = allow
	}
	for _, t := range uc.Tags {
		if r, ok := strings.CutPrefix(t, "role:"); ok {
			id.Role = r
		}
	}
	return id, nil
}

// Trust is what a NATS server needs to verify the members' credentials
// offline: the operator's, the account's and the system account's JWTs
// (public).
type Trust struct {
	Operator, Account, System string
}

// LoadTrust reads the JWTs of an auth directory made by Init.
func LoadTrust(dir string) (Trust, error) {
	op, err := os.ReadFile(filepath.Join(dir, OperatorJWTFile))
	if err != nil {
		return Trust{}, fmt.Errorf("%w: auth directory: %v", ErrConfig, err)
	}
	acc, err := os.ReadFile(filepath.Join(dir, AccountJWTFile))
	if err != nil {
		return Trust{}, fmt.Errorf("%w: auth directory: %v", ErrConfig, err)
	}
	sys, err := os.ReadFile(filepath.Join(dir, SystemJWTFile))
	if err != nil {
		return Trust{}, fmt.Errorf("%w: auth directory: %v", ErrConfig, err)
	}
	t := Trust{Operator: strings.TrimSpace(string(op)), Account: strings.TrimSpace(string(acc)), System: strings.TrimSpace(string(sys))}
	if _, _, err := t.Claims(); err != nil {
		return Trust{}, err
	}
	return t, nil
}

// Claims decodes the JWTs and checks that the operator signed the account.
func (t Trust) Claims() (*jwt.OperatorClaims, *jwt.AccountClaims, error) {
	oc, err := jwt.DecodeOperatorClaims(t.Operator)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the operator JWT does not decode", ErrConfig)
	}
	ac, err := jwt.DecodeAccountClaims(t.Account)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the account JWT does not decode", ErrConfig)
	}
	sc, err := jwt.DecodeAccountClaims(t.System)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the system account JWT does not decode", ErrConfig)
	}
	for _, c := range []*jwt.AccountClaims{ac, sc} {
		if c.Issuer != oc.Subject && !oc.SigningKeys.Contains(c.Issuer) {
			return nil, nil, errors.New("security: an account JWT is not signed by the operator")
		}
	}
	if sc.Subject != oc.SystemAccount {
		return nil, nil, errors.New("security: the system account JWT is not the operator's system account")
	}
	return oc, ac, nil
}

// MemberID returns the ID a member in role runs under: with a credential,
// the name in it (id, if set, must be that name); else id.
func (c Config) MemberID(id, role string) (string, error) {
	if c.Creds == "" {
		return id, nil
	}
	who, err := ReadIdentity(c.Creds)
	if err != nil {
		return "", err
	}
	if who.Role != role && who.Role != RoleAdmin {
		return "", fmt.Errorf("%w: the credential is a %s's, not a %s's", ErrConfig, who.Role, role)
	}
	if id != "" && id != who.Name {
		return "", fmt.Errorf("%w: id %q, but the credential is for %q", ErrConfig, id, who.Name)
	}
	return who.Name, nil
}
