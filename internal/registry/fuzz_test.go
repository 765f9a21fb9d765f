package registry

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeHolders: a claim record from the bucket never panics, and an
// accepted one names sane shares.
func FuzzDecodeHolders(f *testing.F) {
	f.Add([]byte(`{"a":2,"b":1}`))
	f.Add([]byte(`{"a":-1}`))
	f.Add([]byte(`{"":1e9}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHolders(b)
		if err != nil {
			return
		}
		for f, n := range h {
			if f == "" || n < 1 || n > MaxCapacity {
				t.Fatalf("accepted share %q: %d", f, n)
			}
		}
	})
}

// FuzzMember: a member entry from the bucket never panics, and a valid
// workman advertises a sane capacity.
func FuzzMember(f *testing.F) {
	good, _ := json.Marshal(Member{ID: "w", Role: RoleWorkman, Type: "t", Capacity: 2, State: StateBusy, Busy: 1,
		Endpoint: Endpoint{URL: "nats://127.0.0.1:4222", Subject: "fi.w.w", Mode: ModeMesh}, Host: "h-1.example", For: []string{"f"}})
	f.Add(good)
	f.Add([]byte(`{"id":"w","role":"workman","capacity":1000000000}`))
	f.Add([]byte(`{"id":"w","role":"workman","type":"t","capacity":2,"state":"x\" onmouseover=\"alert(1)","endpoint":{"mode":"mesh"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Member
		if json.Unmarshal(b, &m) != nil || !m.valid() {
			return
		}
		if m.Role == RoleWorkman && (m.Capacity < 1 || m.Capacity > MaxCapacity) {
			t.Fatalf("valid workman with capacity %d", m.Capacity)
		}
		// Nothing it shows can end an HTML attribute or a JSON string.
		for _, v := range append([]string{m.ID, m.Type, m.State, m.Host, m.Endpoint.URL, m.Endpoint.Subject, m.Endpoint.Mode}, append(m.For, m.Jobs...)...) {
			if strings.ContainsAny(v, "\"'<>\\ ") || !utf8.ValidString(v) {
				t.Fatalf("valid member %+v shows %q", m, v)
			}
		}
	})
}

// FuzzDecodeTimeline: a timeline record from the stream never panics,
// and every attempt of an accepted one names one of its workers, in time
// order.
func FuzzDecodeTimeline(f *testing.F) {
	good, _ := json.Marshal(Timeline{Job: "j", Foreman: "f", Workers: []string{"w1", "w2"}, Recorded: 3,
		Attempts: []Attempt{{Task: 0, Worker: 1, Slot: 0, Queued: 1, Started: 2, Finished: 5, Outcome: Succeeded}, {Task: 1, Started: 3, Kind: Retry}}})
	f.Add(good)
	f.Add([]byte(`{"job":"j","foreman":"f","workers":["w"],"recorded":1,"attempts":[[0,1,0,0,0,0,0,0]]}`))
	f.Add([]byte(`{"job":"j","foreman":"f","workers":["w"],"recorded":1,"attempts":[[0,0,0,0,0,0,0,99999999999]]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tl, err := DecodeTimeline(b)
		if err != nil {
			return
		}
		for _, a := range tl.Attempts {
			if a.Worker < 0 || a.Worker >= len(tl.Workers) || a.Started < a.Queued || a.Finished != 0 && a.Finished < a.Started {
				t.Fatalf("accepted attempt %+v of %d workers", a, len(tl.Workers))
			}
		}
		if _, err := json.Marshal(tl); err != nil {
			t.Fatalf("an accepted timeline does not encode: %v", err)
		}
	})
}

// TestTimelineEncode: Encode writes what json.Marshal writes.
func TestTimelineEncode(t *testing.T) {
	tl := Timeline{Job: "j", Foreman: "f", Workers: []string{"w1", "w\"2"}, Recorded: 7}
	for _, tl.Attempts = range [][]Attempt{nil, {}, {{Task: 1, Worker: 1, Slot: 3, Queued: 4, Started: 5, Finished: 6, Outcome: Busy, Kind: Backup}, {Task: 9, Started: 1}}} {
		want, err := json.Marshal(tl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tl.Encode()
		if err != nil || string(got) != strings.Replace(string(want), `"attempts":null`, `"attempts":[]`, 1) {
			t.Fatalf("Encode = %s, %v; json.Marshal = %s", got, err, want)
		}
	}
}
