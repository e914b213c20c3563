package codec

// AppendMessageFrame appends a whole server frame (no credentials) whose
// payload is the encoding of m by appendFn, e.g.
//
//	buf = codec.AppendMessageFrame(buf, codec.WriteEventsCompletedCommand, &id, &reply, codec.AppendWriteEventsCompleted)
//
// It panics if the encoding exceeds FrameLengthMax (a programmer error:
// replies are bounded by read page and event size limits). Use
// AppendFrameStart/FinishFrame to handle that case as an error.
func AppendMessageFrame[T any](dst []byte, cmd Command, id *GUID, m *T, appendFn func([]byte, *T) []byte) []byte {
	dst, start := AppendFrameStart(dst, cmd, FlagNone, id)
	dst = appendFn(dst, m)
	if err := FinishFrame(dst, start); err != nil {
		panic("BUG: codec.AppendMessageFrame " + cmd.String() + ": " + err.Error())
	}
	return dst
}
