package index

import (
	"testing"
)

// validPtableBytes returns the bytes of a small valid ptable.
func validPtableBytes(t testing.TB) []byte {
	fsys := newMemFS()
	requireNoError(t, fsys.MkdirAll("/p", 0o755))
	f, err := fsys.Create("/p/t")
	requireNoError(t, err)
	pw, err := newPtableWriter(f, 3, 1)
	requireNoError(t, err)
	for i := 0; i < 300; i++ {
		requireNoError(t, pw.add(Entry{Hash: uint64(i / 7), Number: int64(i % 7), Pos: int64(i)}))
	}
	requireNoError(t, pw.finish(400))
	size := sizeOf(t, fsys, "/p/t")
	buf := make([]byte, size)
	_, err = f.ReadAt(buf, 0)
	requireNoError(t, err)
	return buf
}

// FuzzParsePtable: no input crashes the ptable parser, and whatever it
// accepts can be searched without going out of bounds.
func FuzzParsePtable(f *testing.F) {
	good := validPtableBytes(f)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(make([]byte, ptHeaderSize+ptFooterSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < ptHeaderSize+ptFooterSize {
			return // openPtable refuses these before parsing
		}
		pt, err := parsePtable(data, true)
		if err != nil {
			return
		}
		for _, k := range []Entry{{}, {Hash: 3, Number: 2}, keyMax(^uint64(0), 1<<62)} {
			lb, ub := pt.lowerBound(k), pt.upperBound(k)
			if lb < 0 || lb > pt.count || ub < lb || ub > pt.count {
				t.Fatalf("bounds out of range: %d %d of %d", lb, ub, pt.count)
			}
		}
		pt.mayContain(3)
	})
}

// FuzzDecodeIndexMap: no input crashes the map decoder.
func FuzzDecodeIndexMap(f *testing.F) {
	f.Add(appendIndexMap(nil, indexMap{checkpoint: 5, nextSeq: 9, tables: []mapTable{{1, 0}, {4, 2}}}))
	f.Add([]byte("ESIXMAP1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeIndexMap(data)
		if err == nil && (len(m.tables) > maxMapTables || m.checkpoint < 0) {
			t.Fatalf("accepted an invalid map %+v", m)
		}
	})
}
