package index

// The bloom filter of a ptable is blocked: each hash selects one 64-byte
// block (one cache line) and sets bloomProbes bits in it, so a negative
// lookup costs one cache miss. It is keyed by the stream hash alone, which is
// already uniformly distributed (xxhash), so it is remixed rather than
// rehashed.
const (
	bloomBlockBytes   = 64
	bloomBitsPerHash  = 10 // ~1% false positives with 6 probes in 512-bit blocks
	bloomProbes       = 6
	bloomMaxBlocks    = 1 << 26 // 4 GiB of filter: far beyond any table's need
	bloomBlockBitMask = bloomBlockBytes*8 - 1
)

func bloomBlocksFor(distinct int) int {
	n := (distinct*bloomBitsPerHash + bloomBlockBytes*8 - 1) / (bloomBlockBytes * 8)
	if n < 1 {
		n = 1
	}
	if n > bloomMaxBlocks {
		n = bloomMaxBlocks
	}
	return n
}

// mix64 is the splitmix64 finalizer; it decorrelates the bits used to pick
// the block from the bits used to pick the probes.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func bloomAdd(filter []byte, h uint64) {
	nblocks := uint64(len(filter) / bloomBlockBytes)
	blk := filter[(h%nblocks)*bloomBlockBytes:][:bloomBlockBytes]
	r := mix64(h)
	for i := 0; i < bloomProbes; i++ {
		bit := r & bloomBlockBitMask
		r >>= 9
		blk[bit>>3] |= 1 << (bit & 7)
	}
}

func bloomMayContain(filter []byte, h uint64) bool {
	nblocks := uint64(len(filter) / bloomBlockBytes)
	if nblocks == 0 {
		return true
	}
	blk := filter[(h%nblocks)*bloomBlockBytes:][:bloomBlockBytes]
	r := mix64(h)
	for i := 0; i < bloomProbes; i++ {
		bit := r & bloomBlockBitMask
		r >>= 9
		if blk[bit>>3]&(1<<(bit&7)) == 0 {
			return false
		}
	}
	return true
}
