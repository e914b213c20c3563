//go:build long

package codec

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestFuzzLong runs the fuzz bodies over random mutations of the seed
// corpus for a while (go test -tags long). `go test -fuzz FuzzDecodeDTO`
// explores further with coverage guidance.
func TestFuzzLong(t *testing.T) {
	cases := allDTOCases()
	stream, _ := sampleStream(t)
	seeds := [][]byte{stream}
	for _, c := range cases {
		seeds = append(seeds, c.encoded)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(20 * time.Second)
	n := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			in := mutate(rng, seeds[rng.IntN(len(seeds))])
			fuzzFrames(t, in)
			fuzzDTO(t, cases, uint8(rng.IntN(256)), in)
			n++
		}
	}
	t.Logf("%d inputs", n)
}

func mutate(rng *rand.Rand, seed []byte) []byte {
	b := append([]byte{}, seed...)
	for k := rng.IntN(6); k >= 0; k-- {
		switch rng.IntN(5) {
		case 0:
			if len(b) > 0 {
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			}
		case 1:
			if len(b) > 0 {
				b = b[:rng.IntN(len(b))]
			}
		case 2:
			i := rng.IntN(len(b) + 1)
			b = append(b[:i], append([]byte{byte(rng.Uint32())}, b[i:]...)...)
		case 3:
			if len(b) > 1 {
				i := rng.IntN(len(b))
				b = append(b[:i], b[i+1:]...)
			}
		case 4:
			if len(b) > 0 {
				b[rng.IntN(len(b))] ^= 0x80
			}
		}
	}
	return b
}
