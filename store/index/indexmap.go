package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/eventstored/eventstored/store/vfs"
	"hash/crc32"
	"io"
	"io/fs"
)

// Index map file format (little-endian), rewritten atomically (temp file,
// fsync, rename, fsync dir) after every flush and merge:
//
//	 0  magic "ESIXMAP1"      8 bytes
//	 8  version               u32 (1)
//	12  table count N         u32
//	16  checkpoint            i64  log position the tables cover (exclusive)
//	24  next sequence number  u64
//	32  N × { seq u64, level u32, reserved u32 }
//	    crc32c of all preceding bytes  u32
//
// The map is the only source of truth for which ptables are live: a ptable
// file that the map does not name is an unfinished flush or the input of a
// finished merge, and Open removes it.
const (
	mapMagic      = "ESIXMAP1"
	mapVersion    = 1
	mapHeaderSize = 32
	mapTableSize  = 16
	// maxMapTables bounds the tables a map may list: MaxTables (≤ 100) plus
	// what Close may flush past it (the frozen memtables and the active one).
	maxMapTables = maxTablesLimit + maxFrozenLimit + 1
)

type indexMap struct {
	checkpoint int64
	nextSeq    uint64
	tables     []mapTable
}

type mapTable struct {
	seq   uint64
	level int
}

func appendIndexMap(dst []byte, m indexMap) []byte {
	start := len(dst)
	dst = append(dst, mapMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, mapVersion)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(m.tables)))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(m.checkpoint))
	dst = binary.LittleEndian.AppendUint64(dst, m.nextSeq)
	for _, t := range m.tables {
		dst = binary.LittleEndian.AppendUint64(dst, t.seq)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(t.level))
		dst = binary.LittleEndian.AppendUint32(dst, 0)
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}

func decodeIndexMap(b []byte) (indexMap, error) {
	var m indexMap
	if len(b) < mapHeaderSize+4 {
		return m, fmt.Errorf("map of %d bytes is too short", len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return m, errors.New("map checksum mismatch")
	}
	if string(b[:8]) != mapMagic {
		return m, errors.New("bad map magic")
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != mapVersion {
		return m, fmt.Errorf("unsupported map version %d", v)
	}
	n := binary.LittleEndian.Uint32(b[12:])
	if n > maxMapTables {
		return m, fmt.Errorf("map lists %d tables, more than the limit %d", n, maxMapTables)
	}
	if len(body) != mapHeaderSize+int(n)*mapTableSize {
		return m, fmt.Errorf("map length %d does not match its %d tables", len(b), n)
	}
	m.checkpoint = int64(binary.LittleEndian.Uint64(b[16:]))
	m.nextSeq = binary.LittleEndian.Uint64(b[24:])
	if m.checkpoint < 0 {
		return m, fmt.Errorf("negative checkpoint %d", m.checkpoint)
	}
	seen := make(map[uint64]bool, n)
	for i := 0; i < int(n); i++ {
		r := b[mapHeaderSize+i*mapTableSize:]
		t := mapTable{seq: binary.LittleEndian.Uint64(r), level: int(binary.LittleEndian.Uint32(r[8:]))}
		if t.seq >= m.nextSeq || seen[t.seq] {
			return m, fmt.Errorf("table sequence %d is duplicated or not below the next sequence %d", t.seq, m.nextSeq)
		}
		seen[t.seq] = true
		m.tables = append(m.tables, t)
	}
	return m, nil
}

// writeIndexMap replaces the map file atomically and durably.
func writeIndexMap(fsys vfs.FS, dir string, m indexMap) error {
	buf := appendIndexMap(nil, m)
	tmp := join(dir, mapTempFileName)
	f, err := fsys.Create(tmp)
	if err != nil {
		return fmt.Errorf("cannot create index map: %w", err)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return fmt.Errorf("cannot write index map: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cannot sync index map: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot close index map: %w", err)
	}
	if err := fsys.Rename(tmp, join(dir, mapFileName)); err != nil {
		return fmt.Errorf("cannot rename index map: %w", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("cannot sync index directory: %w", err)
	}
	return nil
}

// readIndexMap reads the map; ok is false when there is none.
func readIndexMap(fsys vfs.FS, dir string) (m indexMap, ok bool, err error) {
	f, err := fsys.Open(join(dir, mapFileName))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return m, false, nil
		}
		return m, false, fmt.Errorf("cannot open index map: %w", err)
	}
	defer f.Close()
	size, err := fileSize(f)
	if err != nil {
		return m, false, fmt.Errorf("cannot stat index map: %w", err)
	}
	if size > mapHeaderSize+maxMapTables*mapTableSize+4 {
		return m, false, fmt.Errorf("%w: index map of %d bytes exceeds the limit", ErrCorrupt, size)
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); n != len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return m, false, fmt.Errorf("cannot read index map: %w", err)
	}
	m, err = decodeIndexMap(buf)
	if err != nil {
		return m, false, fmt.Errorf("%w: index map: %v", ErrCorrupt, err)
	}
	return m, true, nil
}
