// Package terasort sorts a file of fixed-width records by key across
// workers, shaped like TeraSort: the foreman samples the keys to choose
// one range of keys per worker; each worker reads its share of the file,
// sends every other worker the records of its range (Peer.Receive, inside
// DoTask), sorts the records of its own range and writes them to a file
// of its own. The part files, concatenated in order, are the whole file
// sorted: what `LC_ALL=C sort` prints.
package terasort

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
)

// A record is RecordSize bytes: a KeySize-byte key of printable ASCII
// ('!' to '~'), a space, the record's number in 16 hex digits, a space,
// filler, and a newline. Records sort by their bytes, key first.
const (
	RecordSize = 100
	KeySize    = 10
)

// Generate writes n records from a generator seeded with seed.
func Generate(w io.Writer, n int64, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriterSize(w, 1<<20)
	var rec [RecordSize]byte
	for i := range n {
		for k := range KeySize {
			rec[k] = byte('!' + r.IntN('~'-'!'+1))
		}
		b := append(rec[:KeySize], ' ')
		b = fmt.Appendf(b, "%016x ", i)
		for len(b) < RecordSize-1 {
			b = append(b, byte('A'+(i+int64(len(b)))%26))
		}
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Sorted is records in order: the records of chunks (each a whole number
// of records), each found by its chunk and place. Sort makes one.
type Sorted struct {
	chunks [][]byte
	refs   []ref
}

type ref struct {
	prefix   uint64 // the record's first 8 bytes, big-endian
	chunk, i uint32
}

func (s *Sorted) record(r ref) []byte {
	return s.chunks[r.chunk][int(r.i)*RecordSize : int(r.i+1)*RecordSize]
}

// Sort sorts the records of chunks by their bytes without moving them: it
// sorts an index of each record's first 8 bytes, so most comparisons are
// of two integers; WriteTo writes them in order.
func Sort(chunks ...[]byte) *Sorted {
	s := &Sorted{chunks: chunks}
	n := 0
	for _, c := range chunks {
		n += len(c) / RecordSize
	}
	s.refs = make([]ref, 0, n)
	for ci, c := range chunks {
		for i := range len(c) / RecordSize {
			s.refs = append(s.refs, ref{binary.BigEndian.Uint64(c[i*RecordSize:]), uint32(ci), uint32(i)})
		}
	}
	slices.SortFunc(s.refs, func(a, b ref) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return bytes.Compare(s.record(a), s.record(b))
	})
	return s
}

// Len is the number of records.
func (s *Sorted) Len() int { return len(s.refs) }

// First returns the least record (nil if none).
func (s *Sorted) First() []byte {
	if len(s.refs) == 0 {
		return nil
	}
	return s.record(s.refs[0])
}

// Last returns the greatest record (nil if none).
func (s *Sorted) Last() []byte {
	if len(s.refs) == 0 {
		return nil
	}
	return s.record(s.refs[len(s.refs)-1])
}

// WriteTo writes the records in order.
func (s *Sorted) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var n int64
	for _, r := range s.refs {
		k, err := bw.Write(s.record(r))
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}

// Partition returns the index of the range key belongs to: the number of
// boundaries (sorted keys, KeySize bytes each, back to back) at or below
// it.
func Partition(bounds []byte, key []byte) int {
	n := len(bounds) / KeySize
	return sort.Search(n, func(i int) bool { return bytes.Compare(bounds[i*KeySize:(i+1)*KeySize], key[:KeySize]) > 0 })
}

// PartName is the name of range i's output file.
func PartName(i int) string { return fmt.Sprintf("part-%05d", i) }
