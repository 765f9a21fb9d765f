package park

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Domains and nodes may be any non-empty UTF-8 string (Fourinone's own
// examples use Chinese names), and KV keys allow only [A-Za-z0-9-_=.]: a
// name is kept as is but for its other bytes, each written "=" and two
// hex digits ("=" itself too), so that the encoding is reversible and
// the dot only ever separates a key's parts.

// MaxName is the longest domain or node name, in bytes.
const MaxName = 256

// ErrName is returned for an empty, over-long or invalid UTF-8 name.
var ErrName = errors.New("park: invalid name")

const hexDigits = "0123456789ABCDEF"

func plain(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_'
}

// encodeName returns name as a key token.
func encodeName(name string) (string, error) {
	if name == "" || len(name) > MaxName || !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: %q", ErrName, name)
	}
	var sb strings.Builder
	for i := 0; i < len(name); i++ {
		if b := name[i]; plain(b) {
			sb.WriteByte(b)
		} else {
			sb.WriteByte('=')
			sb.WriteByte(hexDigits[b>>4])
			sb.WriteByte(hexDigits[b&15])
		}
	}
	return sb.String(), nil
}

// decodeName reverses encodeName.
func decodeName(token string) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(token); i++ {
		b := token[i]
		if b != '=' {
			if !plain(b) {
				return "", fmt.Errorf("%w: key token %q", ErrName, token)
			}
			sb.WriteByte(b)
			continue
		}
		if i+2 >= len(token) {
			return "", fmt.Errorf("%w: key token %q", ErrName, token)
		}
		hi, lo := strings.IndexByte(hexDigits, token[i+1]), strings.IndexByte(hexDigits, token[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("%w: key token %q", ErrName, token)
		}
		sb.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return sb.String(), nil
}
