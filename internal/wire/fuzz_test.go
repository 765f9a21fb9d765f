package wire

import (
	"encoding/binary"
	"testing"
)

// FuzzParseFirst: a request's first chunk never panics the parser, and
// what it accepts is within the frame.
func FuzzParseFirst(f *testing.F) {
	f.Add(binary.AppendUvarint([]byte{0}, 5))
	f.Add(append(binary.AppendUvarint([]byte{2, 'm', 'e'}, 3), "abc"...))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		meta, total, body, ok := parseFirst(data)
		if !ok {
			return
		}
		if len(meta)+len(body) > len(data) || uint64(len(body)) > total {
			t.Fatalf("meta %d + body %d bytes of a %d-byte frame, declared %d", len(meta), len(body), len(data), total)
		}
	})
}
