package consensus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/eventstored/eventstored/store/vfs"
)

// EntryTableFileName is the persisted entry table: the log position of
// every committed entry's header and the terms, so that OpenTlogDisk
// reads it instead of scanning the whole log (it scans only the log past
// the last entry the table holds).
//
// Why a table and not raft snapshots with FirstIndex moving up: a
// snapshot would make a lagging follower receive a snapshot instead of
// entries, and a snapshot of an event store is its whole log (there is
// no smaller state to send), so snapshots would need their own transfer
// of chunks while the table changes nothing raft or the followers see.
// It is a cache: the log is the truth, and a table that is missing,
// damaged, or does not match the log is rebuilt from a full scan.
//
// File (little-endian):
//
//	+------------------+---------+---------+-----
//	| header (32 B)    | frame 1 | frame 2 | ...
//	+------------------+---------+---------+-----
//
//	header: off size
//	          0   4  magic "ESRT"
//	          4   4  version 1
//	          8   8  the log's chunk size (a table of another geometry is not used)
//	         16  12  zero
//	         28   4  crc32c of bytes 0..28
//
//	frame:  off size
//	          0   4  magic "ESRF"
//	          4   4  body length n (at most maxTableFrameBody)
//	          8   8  first index f (the entry after the previous frame's last)
//	         16   4  entry count c (1..tableFrameEntries)
//	         20   4  term run count r (1..c)
//	         24 16r  runs: first index u64, term u64 (ascending, the first at f)
//	          .   8  log position of entry f's header
//	          . ...  c-1 uvarints: each next header position minus the previous
//	       8+n   4  crc32c of bytes 0..8+n
//
// Only committed entries enter the table (raft never replaces a committed
// entry, so the table never has to shrink), and only once the log holds
// them durably. Frames are appended without fsync as commits pass
// tableFrameEntries entries or tableFrameLogBytes of log; the file is
// fsynced every tableSyncLogBytes of log covered and on Close, so a power
// cut costs at most that much rescanning (plus what the OS had not
// written), never a wrong table: Open keeps the valid frames up to the
// first torn or damaged one, cuts the file there, and then checks the
// table's first and last entries against the log (the header at the
// recorded position must be that entry, with that term; the last entry's
// records must end where the log continues). Two raft logs that agree on
// an entry's index and term agree on everything before it (raft's Log
// Matching), so those two checks catch a table of another log (a wiped
// and refilled log with a table left behind). Any failure: full scan,
// table rewritten.
const EntryTableFileName = "raft-entries"

const (
	tableHeaderBytes  = 32
	tableFrameEntries = 4096
	// tableFrameLogBytes writes a frame once the committed entries not
	// yet in the table cover this much log, so the open-time scan past
	// the table stays short when entries are large group commits.
	tableFrameLogBytes = 4 << 20
	// tableSyncLogBytes: the table is fsynced after covering this much
	// more log (a power cut rescans at most about this much).
	tableSyncLogBytes = 64 << 20
	// maxTableFrameBody bounds a frame: c runs and c positions at most.
	maxTableFrameBody = 16 + 16*tableFrameEntries + 8 + binary.MaxVarintLen64*tableFrameEntries
	tableVersion      = 1
)

var (
	tableMagic = [4]byte{'E', 'S', 'R', 'T'}
	frameMagic = [4]byte{'E', 'S', 'R', 'F'}
	// errBadTable: the persisted table does not describe this log.
	errBadTable = errors.New("consensus: entry table does not match the log")
)

// entryTable is the open table file. Opened and closed with the
// TlogDisk; extended by Save (persistCommitted, from the hard state's
// commit callback) on the driver's append goroutine, the tables' only
// writer, which reads them without the lock and through the locked
// accessors (never while holding mu).
type entryTable struct {
	f         vfs.File
	path      string
	size      int64  // append offset: end of the last valid frame
	persisted uint64 // last entry in the table
	unsynced  int64  // log bytes covered by frames written since the last fsync
	buf       []byte
	broken    error // a failed write: the table is no longer extended (a cache only)
	// Frames counts frames written (tests).
	frames int
}

func encodeTableHeader(ds int64) []byte {
	b := make([]byte, tableHeaderBytes)
	copy(b, tableMagic[:])
	binary.LittleEndian.PutUint32(b[4:], tableVersion)
	binary.LittleEndian.PutUint64(b[8:], uint64(ds))
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

// loadEntryTable opens (creating) the table file of d and loads its valid
// frames into d.pos and d.terms, checked against the log; d.end is then
// the end of the last loaded entry. On any mismatch d's tables are left
// empty and the file is reset to its header.
func (d *TlogDisk) loadEntryTable() error {
	t := &entryTable{path: filepath.Join(d.dir, EntryTableFileName)}
	f, err := d.fs.OpenReadWrite(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := d.createEntryTable(t); err != nil {
			return err
		}
		d.et = t
		return nil
	}
	if err != nil {
		return fmt.Errorf("consensus: cannot open %s: %w", t.path, err)
	}
	t.f = f
	d.et = t
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("consensus: cannot stat %s: %w", t.path, err)
	}
	var hdr [tableHeaderBytes]byte
	if st.Size() < tableHeaderBytes || vfs.ReadFull(f, hdr[:], 0) != nil || [4]byte(hdr[:4]) != tableMagic ||
		crc32.Checksum(hdr[:28], castagnoli) != binary.LittleEndian.Uint32(hdr[28:]) ||
		binary.LittleEndian.Uint32(hdr[4:]) != tableVersion || int64(binary.LittleEndian.Uint64(hdr[8:])) != d.ds {
		d.log.Warn("consensus: entry table header unreadable or of another log geometry; scanning the whole log", "file", t.path)
		return d.resetEntryTable()
	}
	t.size = tableHeaderBytes
	r := bufio.NewReaderSize(io.NewSectionReader(f, tableHeaderBytes, st.Size()-tableHeaderBytes), 1<<20)
	var why error
	for {
		n, err := d.readTableFrame(r, t)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			why = err
			break
		}
		t.size += int64(n)
	}
	if why != nil {
		d.log.Warn("consensus: entry table cut at a torn or damaged frame; scanning the log past it", "file", t.path, "at", t.size, "reason", why)
		if err := f.Truncate(t.size); err != nil {
			return fmt.Errorf("consensus: cannot cut %s: %w", t.path, err)
		}
	}
	t.persisted = d.lastIndex()
	if t.persisted == 0 {
		return nil
	}
	end, err := d.checkTableAgainstLog()
	if err != nil {
		d.log.Warn("consensus: entry table does not match the log; scanning the whole log", "file", t.path, "reason", err)
		return d.resetEntryTable()
	}
	d.end = end
	return nil
}

func (d *TlogDisk) createEntryTable(t *entryTable) error {
	if err := vfs.WriteFileSync(d.fs, t.path, encodeTableHeader(d.ds)); err != nil {
		return fmt.Errorf("consensus: cannot create %s: %w", t.path, err)
	}
	f, err := d.fs.OpenReadWrite(t.path)
	if err != nil {
		return fmt.Errorf("consensus: cannot open %s: %w", t.path, err)
	}
	t.f, t.size = f, tableHeaderBytes
	return nil
}

// resetEntryTable forgets what was loaded and cuts the file to a fresh
// header: the full scan rebuilds both.
func (d *TlogDisk) resetEntryTable() error {
	d.pos, d.terms, d.end = d.pos[:0], d.terms[:0], 0
	t := d.et
	t.persisted, t.unsynced = 0, 0
	if err := t.f.Truncate(0); err != nil {
		return fmt.Errorf("consensus: cannot reset %s: %w", t.path, err)
	}
	if _, err := t.f.WriteAt(encodeTableHeader(d.ds), 0); err != nil {
		return fmt.Errorf("consensus: cannot reset %s: %w", t.path, err)
	}
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("consensus: cannot sync %s: %w", t.path, err)
	}
	t.size = tableHeaderBytes
	return nil
}

// readTableFrame reads one frame into d's tables; io.EOF at a clean end.
func (d *TlogDisk) readTableFrame(r *bufio.Reader, t *entryTable) (int, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("frame prefix cut short: %w", err)
	}
	n := binary.LittleEndian.Uint32(pre[4:])
	if [4]byte(pre[:4]) != frameMagic || n < 24 || n > maxTableFrameBody {
		return 0, fmt.Errorf("bad frame magic or length %d", n)
	}
	if cap(t.buf) < 8+int(n)+4 {
		t.buf = make([]byte, 8+int(n)+4)
	}
	b := t.buf[:8+int(n)+4]
	copy(b, pre[:])
	if _, err := io.ReadFull(r, b[8:]); err != nil {
		return 0, fmt.Errorf("frame cut short: %w", err)
	}
	if crc32.Checksum(b[:8+n], castagnoli) != binary.LittleEndian.Uint32(b[8+n:]) {
		return 0, errors.New("frame checksum mismatch")
	}
	body := b[8 : 8+n]
	first, c, nr := binary.LittleEndian.Uint64(body), binary.LittleEndian.Uint32(body[8:]), binary.LittleEndian.Uint32(body[12:])
	if first != d.lastIndex()+1 || c == 0 || c > tableFrameEntries || nr == 0 || nr > c || len(body) < 16+16*int(nr)+8 {
		return 0, fmt.Errorf("frame of %d entries from %d (runs %d) does not follow entry %d", c, first, nr, d.lastIndex())
	}
	runs := body[16 : 16+16*nr]
	rest := body[16+16*nr:]
	p := int64(binary.LittleEndian.Uint64(rest))
	rest = rest[8:]
	// Validate the whole frame before touching d's tables.
	last := first + uint64(c) - 1
	prevFirst, prevTerm := uint64(0), d.lastTerm()
	for k := uint32(0); k < nr; k++ {
		rf, rt := binary.LittleEndian.Uint64(runs[16*k:]), binary.LittleEndian.Uint64(runs[16*k+8:])
		if (k == 0 && rf != first) || (k > 0 && rf <= prevFirst) || rf > last || rt == 0 || rt < prevTerm {
			return 0, fmt.Errorf("bad term run %d (first %d, term %d) in frame from %d", k, rf, rt, first)
		}
		prevFirst, prevTerm = rf, rt
	}
	if len(d.pos) > 0 && p <= d.pos[len(d.pos)-1] {
		return 0, fmt.Errorf("frame from %d starts at %d, not after %d", first, p, d.pos[len(d.pos)-1])
	}
	at := len(d.pos)
	run := uint32(0)
	for i := first; i <= last; i++ {
		if i > first {
			delta, m := binary.Uvarint(rest)
			if m <= 0 || delta == 0 {
				d.dropFrom(uint64(at) + 1)
				return 0, fmt.Errorf("bad position delta of entry %d", i)
			}
			rest = rest[m:]
			p += int64(delta)
		}
		for run+1 < nr && binary.LittleEndian.Uint64(runs[16*(run+1):]) <= i {
			run++
		}
		d.appendIndex(p, binary.LittleEndian.Uint64(runs[16*run+8:]))
	}
	if len(rest) != 0 {
		d.dropFrom(uint64(at) + 1)
		return 0, fmt.Errorf("%d bytes after the positions of frame from %d", len(rest), first)
	}
	return len(b), nil
}

// checkTableAgainstLog reads the table's first and last entries back from
// the log (index and term must match) and returns where the last one
// ends: where the scan continues.
func (d *TlogDisk) checkTableAgainstLog() (int64, error) {
	if _, err := d.entrySpan(1); err != nil {
		return 0, err
	}
	end, err := d.entrySpan(d.lastIndex())
	if err != nil {
		return 0, err
	}
	if dur := d.l.Durable(); end > dur {
		return 0, fmt.Errorf("%w: entry %d ends at %d, past the log's durable end %d", errBadTable, d.lastIndex(), end, dur)
	}
	return end, nil
}

// entrySpan reads entry i's header at its table position and returns the
// log position after its last record.
func (d *TlogDisk) entrySpan(i uint64) (int64, error) {
	p := d.pos[i-1]
	if p >= d.l.Durable() {
		return 0, fmt.Errorf("%w: entry %d at %d, past the log's durable end %d", errBadTable, i, p, d.l.Durable())
	}
	payload, next, err := d.l.ReadAt(p, d.scratch[:0])
	if err != nil {
		return 0, fmt.Errorf("%w: entry %d at %d: %v", errBadTable, i, p, err)
	}
	h, err := decodeEntryHeader(payload)
	if err != nil {
		return 0, fmt.Errorf("%w: entry %d at %d: %v", errBadTable, i, p, err)
	}
	term, _ := d.Term(i)
	if h.index != i || h.term != term {
		return 0, fmt.Errorf("%w: entry %d (term %d) expected at %d, found entry %d (term %d)", errBadTable, i, term, p, h.index, h.term)
	}
	for k := 0; k < h.count; k++ {
		if _, next, err = d.l.ReadAt(next, d.scratch[:0]); err != nil {
			return 0, fmt.Errorf("%w: record %d of entry %d: %v", errBadTable, k, i, err)
		}
	}
	return next, nil
}

// persistCommitted adds the committed entries up to commit that the log
// holds durably to the table: when they make a frame's worth, or always
// when force (open, close). Errors leave the table as it was (it is a
// cache): logged once, and the table is not extended again in this run.
func (d *TlogDisk) persistCommitted(commit uint64, force bool) {
	t := d.et
	if t == nil || t.f == nil || t.broken != nil {
		return
	}
	upTo := min(commit, d.lastIndex())
	if upTo <= t.persisted {
		return
	}
	if d.EntryEnd(upTo) > d.l.Durable() {
		upTo = d.IndexCovering(d.l.Durable())
		if upTo <= t.persisted {
			return
		}
	}
	from := d.tableEnd()
	covered := d.EntryEnd(upTo) - from
	if !force && upTo-t.persisted < tableFrameEntries && covered < tableFrameLogBytes {
		return
	}
	if err := d.writeTable(upTo); err != nil {
		t.broken = err
		d.log.Warn("consensus: cannot extend the entry table; the next open scans the log past its end", "file", t.path, "err", err)
		return
	}
	t.unsynced += covered
	if force || t.unsynced >= tableSyncLogBytes {
		if err := t.f.Sync(); err != nil {
			t.broken = fmt.Errorf("cannot sync %s: %w", t.path, err)
			d.log.Warn("consensus: cannot sync the entry table; the next open scans the log past its synced end", "file", t.path, "err", err)
			return
		}
		t.unsynced = 0
	}
}

// tableEnd is the log position after the table's last entry.
func (d *TlogDisk) tableEnd() int64 {
	if d.et.persisted == 0 {
		if len(d.pos) == 0 {
			return 0
		}
		return d.pos[0]
	}
	return d.EntryEnd(d.et.persisted)
}

// writeTable appends frames for entries persisted+1..upTo.
func (d *TlogDisk) writeTable(upTo uint64) error {
	t := d.et
	t.buf = t.buf[:0]
	for first := t.persisted + 1; first <= upTo; first += tableFrameEntries {
		last := min(first+tableFrameEntries-1, upTo)
		t.buf = d.appendTableFrame(t.buf, first, last)
	}
	if _, err := t.f.WriteAt(t.buf, t.size); err != nil {
		return fmt.Errorf("cannot write %s: %w", t.path, err)
	}
	t.size += int64(len(t.buf))
	t.persisted = upTo
	t.frames++
	if cap(t.buf) > 1<<20 {
		t.buf = nil
	}
	return nil
}

func (d *TlogDisk) appendTableFrame(dst []byte, first, last uint64) []byte {
	start := len(dst)
	dst = append(dst, frameMagic[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, 0) // length, below
	dst = binary.LittleEndian.AppendUint64(dst, first)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(last-first+1))
	nrAt := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, 0) // run count, below
	k := sortSearchRun(d.terms, first)
	nr := 0
	for ; k < len(d.terms) && d.terms[k].first <= last; k++ {
		rf := max(d.terms[k].first, first)
		dst = binary.LittleEndian.AppendUint64(dst, rf)
		dst = binary.LittleEndian.AppendUint64(dst, d.terms[k].term)
		nr++
	}
	binary.LittleEndian.PutUint32(dst[nrAt:], uint32(nr))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(d.pos[first-1]))
	for i := first + 1; i <= last; i++ {
		dst = binary.AppendUvarint(dst, uint64(d.pos[i-1]-d.pos[i-2]))
	}
	binary.LittleEndian.PutUint32(dst[start+4:], uint32(len(dst)-start-8))
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// sortSearchRun returns the run holding entry i.
func sortSearchRun(terms []termRun, i uint64) int {
	lo, hi := 0, len(terms)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if terms[m].first <= i {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// tableDropFrom: raft replaced entries i and later. They were never
// committed, so never in the table; if they were, the table is reset
// (rebuilt at the next open) rather than trusted.
func (d *TlogDisk) tableDropFrom(i uint64) {
	t := d.et
	if t == nil || t.f == nil || i > t.persisted {
		return
	}
	d.log.Error("BUG: consensus: entries in the entry table were replaced; resetting the table", "from_index", i, "table_last", t.persisted)
	t.persisted, t.unsynced = 0, 0
	if err := t.f.Truncate(tableHeaderBytes); err != nil {
		t.broken = err
	}
	t.size = tableHeaderBytes
}

func (t *entryTable) close() error {
	if t == nil || t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}
