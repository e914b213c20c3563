package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/eventstored/eventstored/store/vfs"
	"hash/crc32"
	"sync/atomic"
)

// ptable file format (all integers little-endian):
//
//	+----------------------------------------------------------------+
//	| header (32 bytes)                                              |
//	|   0  magic "ESIXPTB1"          8 bytes                         |
//	|   8  version                   u32 (1)                         |
//	|  12  entry size                u32 (24)                        |
//	|  16  entries per block         u32                             |
//	|  20  level                     u32                             |
//	|  24  sequence number           u64                             |
//	+----------------------------------------------------------------+
//	| entries: count × 24 bytes, ascending by (hash, number, pos)    |
//	|   hash u64 | number i64 | pos i64                              |
//	+----------------------------------------------------------------+
//	| block checksums: nblocks × u32 crc32c of each block's entries  |
//	+----------------------------------------------------------------+
//	| sparse index: nblocks × 24 bytes, the first entry of each block|
//	+----------------------------------------------------------------+
//	| bloom filter: bloomBlocks × 64 bytes, keyed by hash            |
//	+----------------------------------------------------------------+
//	| footer (80 bytes)                                              |
//	|   0  entry count               u64                             |
//	|   8  distinct hashes           u64                             |
//	|  16  upTo (log position)       i64                             |
//	|  24  checksums offset          u64                             |
//	|  32  sparse index offset       u64                             |
//	|  40  bloom offset              u64                             |
//	|  48  bloom blocks              u64                             |
//	|  56  meta crc32c               u32  header + checksums..bloom  |
//	|  60  reserved                  u32                             |
//	|  64  reserved                  u64                             |
//	|  72  footer crc32c             u32  footer bytes 0..72         |
//	|  76  magic "PTBF"              4 bytes                         |
//	+----------------------------------------------------------------+
//
// nblocks = ceil(count / entries per block). A block is entries-per-block
// consecutive entries (the last may be short).
const (
	ptHeaderSize   = 32
	ptFooterSize   = 80
	ptEntrySize    = 24
	ptVersion      = 1
	ptBlockEntries = 128 // 3 KiB blocks: a block binary search touches at most one page
	ptMagic        = "ESIXPTB1"
	ptFooterMagic  = "PTBF"
	// maxFileBytes bounds one ptable (and so one mapping): 2^40 bytes is
	// ~45 billion entries.
	maxFileBytes = 1 << 40
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ptable is an open, immutable, sorted index file.
type ptable struct {
	seq      uint64
	level    int
	count    int
	distinct int
	upTo     int64
	sizeB    int64
	name     string

	m       mapping
	entries []byte // count × 24
	sparse  []byte // nblocks × 24
	bloom   []byte

	// refs counts the versions holding the table; at zero it is unmapped,
	// and deleted if obsolete (replaced by a merge).
	refs     atomic.Int32
	obsolete atomic.Bool
	ix       *Index
}

func (t *ptable) entry(i int) Entry {
	b := t.entries[i*ptEntrySize : i*ptEntrySize+ptEntrySize]
	return Entry{
		Hash:   binary.LittleEndian.Uint64(b[0:]),
		Number: int64(binary.LittleEndian.Uint64(b[8:])),
		Pos:    int64(binary.LittleEndian.Uint64(b[16:])),
	}
}

func (t *ptable) sparseEntry(i int) Entry {
	b := t.sparse[i*ptEntrySize : i*ptEntrySize+ptEntrySize]
	return Entry{
		Hash:   binary.LittleEndian.Uint64(b[0:]),
		Number: int64(binary.LittleEndian.Uint64(b[8:])),
		Pos:    int64(binary.LittleEndian.Uint64(b[16:])),
	}
}

func (t *ptable) mayContain(h uint64) bool { return bloomMayContain(t.bloom, h) }

// sparseCount returns how many sparse-index entries (block first entries)
// are < k, or <= k with orEqual. Stream hashes are uniformly distributed
// (xxhash), so it starts from an interpolated guess and gallops outwards:
// about 2·log2(error) probes within a few pages, instead of log2(blocks)
// probes across the whole sparse index. A stream spanning many blocks skews
// the guess; the gallop then costs at most about twice a binary search.
func (t *ptable) sparseCount(k Entry, orEqual bool) int {
	nb := len(t.sparse) / ptEntrySize
	if nb == 0 {
		return 0
	}
	pred := func(i int) bool {
		if orEqual {
			return !less(k, t.sparseEntry(i))
		}
		return less(t.sparseEntry(i), k)
	}
	g := int(float64(k.Hash) / (1 << 64) * float64(nb))
	g = min(max(g, 0), nb-1)
	var lo, hi int // the count lies in [lo, hi]
	if pred(g) {
		lo, hi = g+1, nb
		for step := 1; lo+step-1 < nb; step *= 2 {
			if p := lo + step - 1; !pred(p) {
				hi = p
				break
			} else {
				lo = p + 1
			}
		}
	} else {
		lo, hi = 0, g
		for step := 1; hi-step >= 0; step *= 2 {
			if p := hi - step; pred(p) {
				lo = p + 1
				break
			} else {
				hi = p
			}
		}
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if pred(mid) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// lowerBound returns the index of the first entry >= k (count if none).
func (t *ptable) lowerBound(k Entry) int {
	// The answer lies in the last block whose first entry is < k, or at
	// the start of the next one.
	nb := t.sparseCount(k, false)
	if nb == 0 {
		return 0
	}
	blk := nb - 1
	lo, hi := blk*ptBlockEntries, min((blk+1)*ptBlockEntries, t.count)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if less(t.entry(mid), k) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// upperBound returns the index of the first entry > k (count if none).
func (t *ptable) upperBound(k Entry) int {
	nb := t.sparseCount(k, true)
	if nb == 0 {
		return 0
	}
	blk := nb - 1
	lo, hi := blk*ptBlockEntries, min((blk+1)*ptBlockEntries, t.count)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !less(k, t.entry(mid)) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (t *ptable) ref() { t.refs.Add(1) }

func (t *ptable) unref() {
	n := t.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("BUG: index ptable reference count below zero")
	}
	if err := t.m.release(); err != nil && t.ix != nil {
		t.ix.log.Warn("index: cannot unmap ptable", "file", t.name, "err", err)
	}
	if t.obsolete.Load() && t.ix != nil {
		t.ix.removeObsolete(t.name)
	}
}

// ptableWriter streams sorted entries into a new ptable file.
type ptableWriter struct {
	f     vfs.File
	w     *bufio.Writer
	block [ptBlockEntries * ptEntrySize]byte
	inBlk int
	meta  uint32 // running meta crc: header, then trailing sections

	count     int
	last      Entry
	checksums []byte
	sparse    []byte
	hashes    []uint64 // distinct hashes, ascending
	level     int
	seq       uint64
	sizeB     int64
}

func newPtableWriter(f vfs.File, seq uint64, level int) (*ptableWriter, error) {
	pw := &ptableWriter{f: f, w: bufio.NewWriterSize(f, 1<<20), level: level, seq: seq}
	var hdr [ptHeaderSize]byte
	copy(hdr[0:8], ptMagic)
	binary.LittleEndian.PutUint32(hdr[8:], ptVersion)
	binary.LittleEndian.PutUint32(hdr[12:], ptEntrySize)
	binary.LittleEndian.PutUint32(hdr[16:], ptBlockEntries)
	binary.LittleEndian.PutUint32(hdr[20:], uint32(level))
	binary.LittleEndian.PutUint64(hdr[24:], seq)
	pw.meta = crc32.Update(0, crcTable, hdr[:])
	if _, err := pw.w.Write(hdr[:]); err != nil {
		return nil, err
	}
	pw.sizeB = ptHeaderSize
	return pw, nil
}

// add appends e. REQUIRES: e orders strictly after the previous entry.
func (pw *ptableWriter) add(e Entry) error {
	if pw.count > 0 && !less(pw.last, e) {
		panic(fmt.Sprintf("BUG: index ptable entries out of order: %+v after %+v", e, pw.last))
	}
	if pw.count == 0 || e.Hash != pw.last.Hash {
		pw.hashes = append(pw.hashes, e.Hash)
	}
	b := pw.block[pw.inBlk*ptEntrySize:]
	binary.LittleEndian.PutUint64(b[0:], e.Hash)
	binary.LittleEndian.PutUint64(b[8:], uint64(e.Number))
	binary.LittleEndian.PutUint64(b[16:], uint64(e.Pos))
	if pw.inBlk == 0 {
		pw.sparse = append(pw.sparse, b[:ptEntrySize]...)
	}
	pw.inBlk++
	pw.count++
	pw.last = e
	if pw.inBlk == ptBlockEntries {
		return pw.endBlock()
	}
	return nil
}

func (pw *ptableWriter) endBlock() error {
	data := pw.block[:pw.inBlk*ptEntrySize]
	pw.checksums = binary.LittleEndian.AppendUint32(pw.checksums, crc32.Checksum(data, crcTable))
	pw.inBlk = 0
	pw.sizeB += int64(len(data))
	_, err := pw.w.Write(data)
	return err
}

// finish writes the trailing sections and the footer and syncs the file. It
// does not sync the directory and does not close the file.
func (pw *ptableWriter) finish(upTo int64) error {
	if pw.inBlk > 0 {
		if err := pw.endBlock(); err != nil {
			return err
		}
	}
	checksumsOff := pw.sizeB
	sparseOff := checksumsOff + int64(len(pw.checksums))
	bloomOff := sparseOff + int64(len(pw.sparse))
	nbloom := bloomBlocksFor(len(pw.hashes))
	bloom := make([]byte, nbloom*bloomBlockBytes)
	for _, h := range pw.hashes {
		bloomAdd(bloom, h)
	}
	for _, sec := range [][]byte{pw.checksums, pw.sparse, bloom} {
		pw.meta = crc32.Update(pw.meta, crcTable, sec)
		if _, err := pw.w.Write(sec); err != nil {
			return err
		}
	}
	var ft [ptFooterSize]byte
	binary.LittleEndian.PutUint64(ft[0:], uint64(pw.count))
	binary.LittleEndian.PutUint64(ft[8:], uint64(len(pw.hashes)))
	binary.LittleEndian.PutUint64(ft[16:], uint64(upTo))
	binary.LittleEndian.PutUint64(ft[24:], uint64(checksumsOff))
	binary.LittleEndian.PutUint64(ft[32:], uint64(sparseOff))
	binary.LittleEndian.PutUint64(ft[40:], uint64(bloomOff))
	binary.LittleEndian.PutUint64(ft[48:], uint64(nbloom))
	binary.LittleEndian.PutUint32(ft[56:], pw.meta)
	binary.LittleEndian.PutUint32(ft[72:], crc32.Checksum(ft[:72], crcTable))
	copy(ft[76:], ptFooterMagic)
	if _, err := pw.w.Write(ft[:]); err != nil {
		return err
	}
	if err := pw.w.Flush(); err != nil {
		return err
	}
	pw.sizeB = bloomOff + int64(len(bloom)) + ptFooterSize
	return pw.f.Sync()
}

var errPtableFormat = errors.New("bad ptable layout")

// openPtable maps and validates a ptable file. With verify it checks every
// block checksum too (≈ memory bandwidth: see the package doc for figures);
// without, only the header, footer and trailing sections.
func openPtable(fsys vfs.FS, dir, name string, verify bool) (*ptable, error) {
	f, err := fsys.Open(join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	size, err := fileSize(f)
	if err != nil {
		return nil, err
	}
	if size < ptHeaderSize+ptFooterSize {
		return nil, fmt.Errorf("%w: ptable %s is %d bytes, shorter than header and footer", ErrCorrupt, name, size)
	}
	m, err := mapFile(f, size)
	if err != nil {
		return nil, err
	}
	t, err := parsePtable(m.data, verify)
	if err != nil {
		m.release()
		return nil, fmt.Errorf("%w: ptable %s: %v", ErrCorrupt, name, err)
	}
	t.m = m
	t.name = name
	t.sizeB = size
	return t, nil
}

func parsePtable(data []byte, verify bool) (*ptable, error) {
	size := int64(len(data))
	hdr := data[:ptHeaderSize]
	ft := data[size-ptFooterSize:]
	if string(hdr[:8]) != ptMagic || string(ft[76:80]) != ptFooterMagic {
		return nil, errors.New("bad magic")
	}
	if crc32.Checksum(ft[:72], crcTable) != binary.LittleEndian.Uint32(ft[72:]) {
		return nil, errors.New("footer checksum mismatch")
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != ptVersion {
		return nil, fmt.Errorf("unsupported version %d", v)
	}
	if binary.LittleEndian.Uint32(hdr[12:]) != ptEntrySize || binary.LittleEndian.Uint32(hdr[16:]) != ptBlockEntries {
		return nil, errPtableFormat
	}
	t := &ptable{
		level: int(binary.LittleEndian.Uint32(hdr[20:])),
		seq:   binary.LittleEndian.Uint64(hdr[24:]),
	}
	count := binary.LittleEndian.Uint64(ft[0:])
	distinct := binary.LittleEndian.Uint64(ft[8:])
	t.upTo = int64(binary.LittleEndian.Uint64(ft[16:]))
	checksumsOff := binary.LittleEndian.Uint64(ft[24:])
	sparseOff := binary.LittleEndian.Uint64(ft[32:])
	bloomOff := binary.LittleEndian.Uint64(ft[40:])
	nbloom := binary.LittleEndian.Uint64(ft[48:])
	if count > uint64(size)/ptEntrySize || nbloom > bloomMaxBlocks || distinct > count {
		return nil, errPtableFormat
	}
	nblocks := (count + ptBlockEntries - 1) / ptBlockEntries
	if checksumsOff != ptHeaderSize+count*ptEntrySize ||
		sparseOff != checksumsOff+nblocks*4 ||
		bloomOff != sparseOff+nblocks*ptEntrySize ||
		uint64(size) != bloomOff+nbloom*bloomBlockBytes+ptFooterSize {
		return nil, errPtableFormat
	}
	meta := crc32.Update(0, crcTable, hdr)
	meta = crc32.Update(meta, crcTable, data[checksumsOff:uint64(size)-ptFooterSize])
	if meta != binary.LittleEndian.Uint32(ft[56:]) {
		return nil, errors.New("metadata checksum mismatch")
	}
	t.count = int(count)
	t.distinct = int(distinct)
	t.entries = data[ptHeaderSize:checksumsOff]
	t.sparse = data[sparseOff:bloomOff]
	t.bloom = data[bloomOff : uint64(size)-ptFooterSize]
	if verify {
		if err := t.verifyBlocks(data[checksumsOff:sparseOff]); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *ptable) verifyBlocks(sums []byte) error {
	nb := len(sums) / 4
	for b := 0; b < nb; b++ {
		lo := b * ptBlockEntries * ptEntrySize
		hi := min(lo+ptBlockEntries*ptEntrySize, len(t.entries))
		if crc32.Checksum(t.entries[lo:hi], crcTable) != binary.LittleEndian.Uint32(sums[b*4:]) {
			return fmt.Errorf("block %d checksum mismatch", b)
		}
		if string(t.entries[lo:lo+ptEntrySize]) != string(t.sparse[b*ptEntrySize:(b+1)*ptEntrySize]) {
			return fmt.Errorf("block %d disagrees with the sparse index", b)
		}
	}
	return nil
}
