package tlog

// PlanAppend predicts where Append will put a record of payloadLen bytes
// when the log's append end is end: it applies Append's chunk-roll rule
// (records never span chunks; a record that does not fit in what is left of
// end's chunk starts the next chunk) and returns the record's position and
// the end after it. It reads only the immutable chunk size, so any
// goroutine may call it, also while the writer goroutine appends. The
// store's writer uses it to encode a batch with final positions (a
// transaction id is its begin record's position, a commit record lists its
// events' positions) before another goroutine appends the batch.
//
// REQUIRES: payloadLen <= MaxPayloadBytes() (Append refuses larger records
// with ErrRecordTooLarge) and end is a position Append can produce (a record
// end, a chunk start, or the log's end).
func (l *Log) PlanAppend(end int64, payloadLen int) (pos, next int64) {
	return planAppend(l.ds, end, payloadLen)
}

func planAppend(ds, end int64, payloadLen int) (pos, next int64) {
	size := int64(payloadLen) + RecordOverheadBytes
	pos = end
	// NB: end may be the end of a chunk filled to its last byte, which is
	// numerically the next chunk's start: off is then 0 and the record
	// starts there, as Append's roll does.
	if off := end % ds; off+size > ds {
		pos = (end/ds + 1) * ds
	}
	return pos, pos + size
}
