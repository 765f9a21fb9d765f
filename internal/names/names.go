// Package names checks the names members give themselves and write to
// the park: ids and worker types, which become NATS subjects and registry
// keys, and hosts, which the dashboard shows. A name that fails is refused
// up front, with one message that says what is allowed, never a transport
// error later.
package names

import "fmt"

// Lengths, in bytes.
const (
	MaxID   = 128 // a member's id (workman, foreman, contractor, credential name)
	MaxType = 64  // a worker or Work type
	MaxHost = 253 // a host name (DNS's limit) or address
)

// ValidID reports whether s is an id: 1 to MaxID letters, digits, '-' and
// '_'.
func ValidID(s string) bool { return word(s, MaxID) }

// ValidType reports whether s is a worker type: 1 to MaxType letters,
// digits, '-' and '_'.
func ValidType(s string) bool { return word(s, MaxType) }

// ID returns nil if s is a valid id, else an error naming what (e.g. "-id"
// or "id") and the rule.
func ID(what, s string) error {
	if ValidID(s) {
		return nil
	}
	return fmt.Errorf("%s %q: use letters, digits, '-' and '_', at most %d", what, s, MaxID)
}

// Type is ID for worker types.
func Type(what, s string) error {
	if ValidType(s) {
		return nil
	}
	return fmt.Errorf("%s %q: use letters, digits, '-' and '_', at most %d", what, s, MaxType)
}

// ValidHost reports whether s is a host as a member reports it: 1 to
// MaxHost letters, digits, '-', '_', '.' and ':' (names, IPv4 and IPv6
// addresses).
func ValidHost(s string) bool {
	if len(s) == 0 || len(s) > MaxHost {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !wordByte(c) && c != '.' && c != ':' {
			return false
		}
	}
	return true
}

func word(s string, limit int) bool {
	if len(s) == 0 || len(s) > limit {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !wordByte(s[i]) {
			return false
		}
	}
	return true
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
