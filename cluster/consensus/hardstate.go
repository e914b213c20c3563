package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/eventstored/eventstored/store/vfs"
)

// Files of the consensus state, next to the chunks in the db directory.
const (
	// HardStateFileName holds raft's hard state (term, vote, commit).
	HardStateFileName = "raft-state.chk"
	// MembersFileName holds the voters and learners chosen at bootstrap.
	MembersFileName = "raft-members"
)

// hardStateFile keeps raft's hard state the way tlog keeps a checkpoint:
// two slots written alternately, each with a sequence number and a crc, so
// a torn write leaves the previous state readable.
//
//	file: slot 0 (40 B) | slot 1 (40 B)
//
//	slot: off size
//	        0   4  magic "ESRS"
//	        4   8  term
//	       12   8  vote
//	       20   8  commit
//	       28   8  sequence
//	       36   4  crc32c of bytes 0..36
//
// Term and vote changes are fsynced before Save returns (raft's rule: a
// vote must survive a crash, or a node could vote twice in one term).
// A change of commit alone is written without fsync: raft lets the
// durable commit index lag (it is learned again from the leader), so it
// costs no second fsync per group commit. Such a write never goes into
// the slot holding the last fsynced state: a crash that tears it falls
// back to that slot, whose term and vote are current (only commit is
// older).
//
// Owned by the consensus driver goroutine.
type hardStateFile struct {
	f          vfs.File
	path       string
	seq        uint64
	syncedSlot int // slot holding the last fsynced state
	cur        *pb.HardState
	buf        [hardStateSlotBytes]byte
	// Syncs counts fsyncs (tests).
	syncs int
	// onCommit is told each new commit index once it is written (the
	// entry table adds the committed entries: entrytable.go).
	onCommit func(commit uint64)
}

const hardStateSlotBytes = 40

var (
	hardStateMagic = [4]byte{'E', 'S', 'R', 'S'}
	membersMagic   = [4]byte{'E', 'S', 'R', 'M'}
	castagnoli     = crc32.MakeTable(crc32.Castagnoli)
)

func encodeHardStateSlot(dst []byte, hs *pb.HardState, seq uint64) {
	copy(dst[0:4], hardStateMagic[:])
	binary.LittleEndian.PutUint64(dst[4:], hs.GetTerm())
	binary.LittleEndian.PutUint64(dst[12:], hs.GetVote())
	binary.LittleEndian.PutUint64(dst[20:], hs.GetCommit())
	binary.LittleEndian.PutUint64(dst[28:], seq)
	binary.LittleEndian.PutUint32(dst[36:], crc32.Checksum(dst[0:36], castagnoli))
}

func decodeHardStateSlot(src []byte) (hs *pb.HardState, seq uint64, ok bool) {
	if len(src) < hardStateSlotBytes || [4]byte(src[0:4]) != hardStateMagic ||
		crc32.Checksum(src[0:36], castagnoli) != binary.LittleEndian.Uint32(src[36:40]) {
		return nil, 0, false
	}
	term, vote, commit := binary.LittleEndian.Uint64(src[4:]), binary.LittleEndian.Uint64(src[12:]), binary.LittleEndian.Uint64(src[20:])
	return &pb.HardState{Term: &term, Vote: &vote, Commit: &commit}, binary.LittleEndian.Uint64(src[28:]), true
}

// openHardState opens (creating empty) the hard state file of dir.
func openHardState(fsys vfs.FS, dir string) (*hardStateFile, error) {
	h := &hardStateFile{path: filepath.Join(dir, HardStateFileName), cur: &pb.HardState{}}
	f, err := fsys.OpenReadWrite(h.path)
	if errors.Is(err, fs.ErrNotExist) {
		var b [2 * hardStateSlotBytes]byte
		encodeHardStateSlot(b[:hardStateSlotBytes], h.cur, 0)
		if err := vfs.WriteFileSync(fsys, h.path, b[:]); err != nil {
			return nil, fmt.Errorf("consensus: cannot create %s: %w", h.path, err)
		}
		f, err = fsys.OpenReadWrite(h.path)
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: cannot open %s: %w", h.path, err)
	}
	var b [2 * hardStateSlotBytes]byte
	n, _ := f.ReadAt(b[:], 0)
	if n == 0 {
		// NB: a creation that never reached the disk (WriteFileSync syncs
		// the file before its directory entry): nothing was ever voted.
		encodeHardStateSlot(b[:hardStateSlotBytes], h.cur, 0)
		if _, err := f.WriteAt(b[:], 0); err != nil {
			f.Close()
			return nil, fmt.Errorf("consensus: cannot write %s: %w", h.path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("consensus: cannot sync %s: %w", h.path, err)
		}
	}
	h0, s0, ok0 := decodeHardStateSlot(b[:hardStateSlotBytes])
	h1, s1, ok1 := decodeHardStateSlot(b[hardStateSlotBytes:])
	switch {
	case ok0 && (!ok1 || s0 > s1):
		h.cur, h.seq, h.syncedSlot = h0, s0, 0
	case ok1:
		h.cur, h.seq, h.syncedSlot = h1, s1, 1
	default:
		f.Close()
		return nil, fmt.Errorf("%w: %s: neither slot is valid", ErrCorruptState, h.path)
	}
	h.f = f
	return h, nil
}

// save records hs: fsynced when term or vote changed, written only when
// commit alone moved.
func (h *hardStateFile) save(hs *pb.HardState) error {
	sync := hs.GetTerm() != h.cur.GetTerm() || hs.GetVote() != h.cur.GetVote()
	if !sync && hs.GetCommit() == h.cur.GetCommit() {
		return nil
	}
	seq := h.seq + 1
	slot := 1 - h.syncedSlot
	encodeHardStateSlot(h.buf[:], hs, seq)
	if _, err := h.f.WriteAt(h.buf[:], int64(slot)*hardStateSlotBytes); err != nil {
		return fmt.Errorf("cannot write %s: %w", h.path, err)
	}
	if sync {
		if err := h.f.Sync(); err != nil {
			return fmt.Errorf("cannot sync %s: %w", h.path, err)
		}
		h.syncs++
		h.syncedSlot = slot
	}
	h.seq = seq
	moved := hs.GetCommit() != h.cur.GetCommit()
	t, v, c := hs.GetTerm(), hs.GetVote(), hs.GetCommit()
	h.cur = &pb.HardState{Term: &t, Vote: &v, Commit: &c}
	if moved && h.onCommit != nil {
		h.onCommit(c)
	}
	return nil
}

// sync makes a commit written without fsync durable (Close).
func (h *hardStateFile) sync() error {
	if h.f == nil {
		return nil
	}
	if err := h.f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", h.path, err)
	}
	return nil
}

func (h *hardStateFile) close() error {
	if h.f == nil {
		return nil
	}
	err := h.f.Close()
	h.f = nil
	return err
}

// Members file (written once, at bootstrap, then only read):
//
//	off size
//	  0   4  magic "ESRM"
//	  4   4  voter count V
//	  8   4  learner count L
//	 12  8V  voter ids (u64)
//	  .  8L  learner ids (u64)
//	  .   4  crc32c of everything before
//
// It is written to a temporary name, fsynced and renamed, so it either
// exists whole or not at all.
const maxMembers = 64

func encodeMembers(cs *pb.ConfState) []byte {
	b := make([]byte, 12, 12+8*(len(cs.GetVoters())+len(cs.GetLearners()))+4)
	copy(b, membersMagic[:])
	binary.LittleEndian.PutUint32(b[4:], uint32(len(cs.GetVoters())))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(cs.GetLearners())))
	for _, id := range cs.GetVoters() {
		b = binary.LittleEndian.AppendUint64(b, id)
	}
	for _, id := range cs.GetLearners() {
		b = binary.LittleEndian.AppendUint64(b, id)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeMembers(b []byte) (*pb.ConfState, error) {
	if len(b) < 16 || [4]byte(b[0:4]) != membersMagic {
		return nil, fmt.Errorf("%w: bad magic or size", ErrCorruptState)
	}
	v, l := binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:])
	if v > maxMembers || l > maxMembers || len(b) != 12+8*int(v+l)+4 {
		return nil, fmt.Errorf("%w: %d voters and %d learners do not match %d bytes", ErrCorruptState, v, l, len(b))
	}
	if crc32.Checksum(b[:len(b)-4], castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorruptState)
	}
	cs := &pb.ConfState{}
	for i := range int(v + l) {
		id := binary.LittleEndian.Uint64(b[12+8*i:])
		if i < int(v) {
			cs.Voters = append(cs.Voters, id)
		} else {
			cs.Learners = append(cs.Learners, id)
		}
	}
	return cs, nil
}

func readMembers(fsys vfs.FS, dir string) (*pb.ConfState, error) {
	path := filepath.Join(dir, MembersFileName)
	f, err := fsys.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &pb.ConfState{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: cannot open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("consensus: cannot stat %s: %w", path, err)
	}
	if st.Size() > 16+16*maxMembers {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrCorruptState, path, st.Size())
	}
	b := make([]byte, st.Size())
	if err := vfs.ReadFull(f, b, 0); err != nil && len(b) > 0 {
		return nil, fmt.Errorf("consensus: cannot read %s: %w", path, err)
	}
	cs, err := decodeMembers(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cs, nil
}

func writeMembers(fsys vfs.FS, dir string, cs *pb.ConfState) error {
	if len(cs.GetVoters()) > maxMembers || len(cs.GetLearners()) > maxMembers {
		return fmt.Errorf("consensus: %d voters and %d learners, at most %d each", len(cs.GetVoters()), len(cs.GetLearners()), maxMembers)
	}
	return replaceFile(fsys, dir, MembersFileName, encodeMembers(cs))
}

// replaceFile writes data to dir/name durably and atomically: a synced
// temporary file renamed over it, then the directory synced.
func replaceFile(fsys vfs.FS, dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := vfs.WriteFileSync(fsys, tmp, data); err != nil {
		return fmt.Errorf("consensus: cannot write %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("consensus: cannot rename %s: %w", tmp, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("consensus: cannot sync %s: %w", dir, err)
	}
	return nil
}

func sameMembers(a, b *pb.ConfState) bool {
	return slices.Equal(a.GetVoters(), b.GetVoters()) && slices.Equal(a.GetLearners(), b.GetLearners())
}
