package index

// Entry is one index entry: the event numbered Number of some stream whose
// name hashes to Hash is stored in the log at Pos. Several streams may share
// a Hash; the caller confirms each candidate against the record it reads.
type Entry struct {
	Hash   uint64
	Number int64
	Pos    int64
}

// less orders entries by (Hash, Number, Pos) ascending: the order of the
// entries in a ptable and in a memtable.
func less(a, b Entry) bool {
	if a.Hash != b.Hash {
		return a.Hash < b.Hash
	}
	if a.Number != b.Number {
		return a.Number < b.Number
	}
	return a.Pos < b.Pos
}

// cmp returns -1, 0 or +1 as a orders before, equal to or after b.
func cmp(a, b Entry) int {
	switch {
	case a.Hash < b.Hash:
		return -1
	case a.Hash > b.Hash:
		return 1
	case a.Number < b.Number:
		return -1
	case a.Number > b.Number:
		return 1
	case a.Pos < b.Pos:
		return -1
	case a.Pos > b.Pos:
		return 1
	}
	return 0
}
