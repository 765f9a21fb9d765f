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

// Sort sorts the records of buf (a whole number of them) in place, by
// their bytes. It sorts an index of each record's first 8 bytes, so most
// comparisons are of two integers, then moves the records once.
func Sort(buf []byte) {
	n := len(buf) / RecordSize
	type entry struct {
		prefix uint64
		i      uint32
	}
	idx := make([]entry, n)
	for i := range idx {
		idx[i] = entry{binary.BigEndian.Uint64(buf[i*RecordSize:]), uint32(i)}
	}
	slices.SortFunc(idx, func(a, b entry) int {
		if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
			return c
		}
		return bytes.Compare(record(buf, int(a.i)), record(buf, int(b.i)))
	})
	out := make([]byte, len(buf))
	for j, e := range idx {
		copy(out[j*RecordSize:], record(buf, int(e.i)))
	}
	copy(buf, out)
}

func record(buf []byte, i int) []byte { return buf[i*RecordSize : (i+1)*RecordSize] }

// Partition returns the index of the range key belongs to: the number of
// boundaries (sorted keys, KeySize bytes each, back to back) at or below
// it.
func Partition(bounds []byte, key []byte) int {
	n := len(bounds) / KeySize
	return sort.Search(n, func(i int) bool { return bytes.Compare(bounds[i*KeySize:(i+1)*KeySize], key[:KeySize]) > 0 })
}

// PartName is the name of range i's output file.
func PartName(i int) string { return fmt.Sprintf("part-%05d", i) }
