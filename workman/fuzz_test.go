package workman

import "testing"

// FuzzDecodePeer: a Receive call's sender metadata never panics the
// decoder, and what decodes encodes back to the same bytes.
func FuzzDecodePeer(f *testing.F) {
	f.Add(encodePeer(Peer{ID: "a", Type: "t", Index: 3, url: "nats://127.0.0.1:4222", subject: "fi.w.a"}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePeer(b)
		if err != nil {
			return
		}
		if p2, err := decodePeer(encodePeer(p)); err != nil || p2 != p {
			t.Fatalf("re-decoded %+v, %v; want %+v", p2, err, p)
		}
	})
}
