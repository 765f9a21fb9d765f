package wordcount

import (
	"errors"
	"io"
	"unicode"
	"unicode/utf8"
)

// asciiSpace marks the ASCII bytes unicode.IsSpace accepts, as bytes.Fields
// does.
var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// Counter counts words: maximal runs of non-space, as bytes.Fields splits
// them (space is unicode.IsSpace; invalid UTF-8 is not space). It is not
// safe for concurrent use.
type Counter struct {
	index  map[string]int32 // word -> position in counts
	words  []string
	counts []int64
}

// NewCounter returns an empty Counter.
func NewCounter() *Counter { return NewCounterSize(0) }

// NewCounterSize returns an empty Counter with room for about n distinct
// words, which saves rehashing a growing map.
func NewCounterSize(n int) *Counter {
	return &Counter{index: make(map[string]int32, n), words: make([]string, 0, n), counts: make([]int64, 0, n)}
}

// Distinct returns the number of distinct words counted.
func (c *Counter) Distinct() int { return len(c.words) }

func (c *Counter) add(w []byte) {
	// The lookup with string(w) does not allocate; only new words do.
	if i, ok := c.index[string(w)]; ok {
		c.counts[i]++
		return
	}
	s := string(w)
	c.index[s] = int32(len(c.words))
	c.words = append(c.words, s)
	c.counts = append(c.counts, 1)
}

// scan counts the complete words of b and returns the offset where the
// last, possibly unfinished word starts (len(b) if b ends in space).
func (c *Counter) scan(b []byte) int {
	start := -1 // start of the current word, -1 between words
	for i := 0; i < len(b); {
		ch := b[i]
		size := 1
		var space bool
		if ch < utf8.RuneSelf {
			space = asciiSpace[ch]
		} else {
			var r rune
			r, size = utf8.DecodeRune(b[i:])
			space = unicode.IsSpace(r)
		}
		if space {
			if start >= 0 {
				c.add(b[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
		i += size
	}
	if start < 0 {
		return len(b)
	}
	return start
}

// Bytes counts the words of b.
func (c *Counter) Bytes(b []byte) {
	if rest := c.scan(b); rest < len(b) {
		c.add(b[rest:])
	}
}

// readBlock is Read's block size; tests shrink it to cut words and runes.
var readBlock = 1 << 20

// ErrWordTooLong reports a word longer than the Counter will buffer.
var ErrWordTooLong = errors.New("wordcount: a word is longer than 64 MiB")

// Read counts the words of everything r yields. It reads in 1 MiB blocks;
// a word that spans blocks is carried over whole (and re-decoded, so a
// multi-byte space cut by a block boundary is still a space).
func (c *Counter) Read(r io.Reader) error {
	buf := make([]byte, readBlock)
	carry := 0 // bytes of an unfinished word at the front of buf
	for {
		n, err := io.ReadFull(r, buf[carry:])
		data := buf[:carry+n]
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return err
		}
		if eof {
			c.Bytes(data)
			return nil
		}
		rest := c.scan(data)
		carry = copy(buf, data[rest:])
		if carry == len(buf) { // one word fills the buffer: grow it
			if len(buf) >= 64<<20 {
				return ErrWordTooLong
			}
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
}

// Words returns the words counted and their counts, in the order first
// seen: the Counter's own slices, valid until it counts more.
func (c *Counter) Words() (words []string, counts []int64) { return c.words, c.counts }

// Counts returns the counts as a map.
func (c *Counter) Counts() map[string]int64 {
	m := make(map[string]int64, len(c.words))
	for i, w := range c.words {
		m[w] = c.counts[i]
	}
	return m
}
