package jobcenter_test

import (
	"encoding/json"
	"testing"

	"github.com/fourinone-go/fourinone/jobcenter"
)

// FuzzRecord: a Work's record read from the park never panics the reader,
// and a record that decodes encodes the same way twice.
func FuzzRecord(f *testing.F) {
	f.Add([]byte(`{"id":"a","type":"sum","durable":true,"status":"waiting","attempts":0,"max_attempts":3,"created":"2026-11-29T10:00:00Z","updated":"2026-11-29T10:00:00Z","progress":{"done":0,"total":0},"input_data":"RlcBAAA="}`))
	f.Add([]byte(`{"id":"b","status":"done","errors":["attempt 1: x"],"next":{"type":"t","next":{"type":"u"}},"after":["a"],"result":"obj:r.b.1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var info jobcenter.Info
		if json.Unmarshal(b, &info) != nil {
			return
		}
		out, err := json.Marshal(&info)
		if err != nil {
			t.Fatal(err)
		}
		var again jobcenter.Info
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatal(err)
		}
		out2, err := json.Marshal(&again)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("%s decoded and encoded again is %s", out, out2)
		}
	})
}
