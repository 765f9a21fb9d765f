package codec

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"testing"
	"time"

	"github.com/fourinone-go/fourinone/warehouse"
)

// record is a task's input of about 1 KiB: names, numbers, a vector, a
// time and a small map.
type record struct {
	ID      string
	Shard   int64
	Query   string
	Weights []float64
	Labels  map[string]string
	Since   time.Time
	Limit   int
	Exact   bool
}

func benchRecord() record {
	r := record{ID: "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b", Shard: 17, Query: "select the rows of shard seventeen whose weights exceed the threshold",
		Labels: map[string]string{"team": "search", "tier": "gold", "region": "eu-west"}, Since: time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), Limit: 1000, Exact: true}
	for i := range 100 {
		r.Weights = append(r.Weights, float64(i)*0.37)
	}
	return r
}

// gobCodec is encoding/gob as a Codec, for the comparison only: a gob
// stream carries its types, so each value pays for them.
type gobCodec struct{}

func (gobCodec) Name() string { return "gob" }
func (gobCodec) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}
func (gobCodec) Unmarshal(data []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(v)
}

// BenchmarkCodecs encodes and decodes a 1 KiB record and a vector of
// 100,000 floats with each codec, as the typed API does (through New and
// Value), and reports the encoded size.
func BenchmarkCodecs(b *testing.B) {
	vec := make([]float64, 100_000)
	for i := range vec {
		vec[i] = float64(i) / 3
	}
	for _, c := range []Codec{Compact, JSON, gobCodec{}} {
		Register(c)
		b.Run(fmt.Sprint("record/", c.Name()), func(b *testing.B) { roundTrip(b, c, benchRecord()) })
		b.Run(fmt.Sprint("floats/", c.Name()), func(b *testing.B) { roundTrip(b, c, vec) })
	}
}

func roundTrip[T any](b *testing.B, c Codec, v T) {
	b.ReportAllocs()
	var size int
	for b.Loop() {
		w, err := New(c, v)
		if err != nil {
			b.Fatal(err)
		}
		buf, _ := w.Bytes(KeyValue)
		size = len(buf)
		if _, err := Value[T](w); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "bytes/value")
}

// BenchmarkTaskPath is the bytes work of one no-op task and its result, all
// in one process (no network): the foreman encodes the task, the worker
// decodes it and encodes its result, the foreman decodes that. "typed" is
// what Map and workman.Func do with an empty struct; "warehouse" is an
// IntRange task and an empty result, the untyped floor.
func BenchmarkTaskPath(b *testing.B) {
	b.Run("typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			task, _ := New(nil, struct{}{})
			in := wire(b, task)
			if _, err := Value[struct{}](in); err != nil {
				b.Fatal(err)
			}
			c, _ := CodecOf(in)
			res, _ := New(c, struct{}{})
			if _, err := Value[struct{}](wire(b, res)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warehouse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			task := warehouse.New()
			task.SetInt64("lo", 0)
			task.SetInt64("hi", 1)
			in := wire(b, task)
			if _, ok := in.Int64("hi"); !ok {
				b.Fatal("no hi")
			}
			wire(b, warehouse.New())
		}
	})
}

// wire encodes w and decodes it again, as a send and a receive do.
func wire(b *testing.B, w *warehouse.Warehouse) *warehouse.Warehouse {
	data, _ := w.MarshalBinary()
	out, err := warehouse.Decode(data)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
