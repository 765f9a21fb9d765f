package wordcount

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
)

// Generate writes about size bytes of text to w: words drawn from a
// Zipf-distributed vocabulary of 50,000 (with some non-ASCII words and
// separators: tabs, U+00A0 and U+3000 spaces), in lines of 1 to 20 words.
// The same seed gives the same text. Tests and benchmarks use it.
func Generate(w io.Writer, size int64, seed uint64) error {
	return GenerateVocab(w, size, seed, 50_000, 1.1)
}

// GenerateVocab is Generate with a vocabulary of words words whose
// frequencies fall with rank as a Zipf law of exponent s (> 1; nearer 1,
// more of the vocabulary shows up).
func GenerateVocab(w io.Writer, size int64, seed uint64, words int, s float64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	zipf := rand.NewZipf(rng, s, 2, uint64(words-1))
	vocab := make([]string, words)
	for i := range vocab {
		switch i % 97 {
		case 5:
			vocab[i] = fmt.Sprintf("naïve%d", i)
		case 7:
			vocab[i] = fmt.Sprintf("Wort%dß", i)
		default:
			vocab[i] = fmt.Sprintf("w%x", scramble(i, words))
		}
	}
	seps := []string{" ", " ", " ", " ", "\t", "\u00a0", "  ", "\u3000"}
	bw := bufio.NewWriterSize(w, 1<<20)
	var n int64
	for n < size {
		words := 1 + rng.IntN(20)
		for i := range words {
			if i > 0 {
				k, _ := bw.WriteString(seps[rng.IntN(len(seps))])
				n += int64(k)
			}
			k, _ := bw.WriteString(vocab[zipf.Uint64()])
			n += int64(k)
		}
		if err := bw.WriteByte('\n'); err != nil {
			return err
		}
		n++
	}
	return bw.Flush()
}

// scramble spreads word i's name over the hex numbers: a multiplication
// modulo a prime, one-to-one below it (a larger vocabulary keeps i).
func scramble(i, words int) int {
	if words > 1000003 {
		return i
	}
	return i * 2654435761 % 1000003
}
