package codec

import "strconv"

// AppendMessageFrame appends a whole server frame (no credentials) whose
// payload is the encoding of m by appendFn, e.g.
//
//	buf = codec.AppendMessageFrame(buf, codec.WriteEventsCompletedCommand, &id, &reply, codec.AppendWriteEventsCompleted)
//
// If the encoding would exceed FrameLengthMax (a read page of very large
// events can), the partial frame is removed and a BadRequest with the same
// correlation id and the reason is appended instead: no peer accepts a
// larger frame, and failing the one request beats crashing or closing the
// connection. Use AppendMessageFrameChecked to handle that case yourself.
func AppendMessageFrame[T any](dst []byte, cmd Command, id *GUID, m *T, appendFn func([]byte, *T) []byte) []byte {
	out, err := AppendMessageFrameChecked(dst, cmd, id, m, appendFn)
	if err != nil {
		return appendOversizeBadRequest(dst, cmd, id, len(out)-len(dst))
	}
	return out
}

// AppendMessageFrameChecked is AppendMessageFrame that reports an
// oversized frame as an error wrapping ErrFrameLength; the returned buffer
// then still holds the oversized frame (its length tells by how much), and
// the caller should truncate it to len(dst).
func AppendMessageFrameChecked[T any](dst []byte, cmd Command, id *GUID, m *T, appendFn func([]byte, *T) []byte) ([]byte, error) {
	out, start := AppendFrameStart(dst, cmd, FlagNone, id)
	out = appendFn(out, m)
	return out, FinishFrame(out, start)
}

func appendOversizeBadRequest(dst []byte, cmd Command, id *GUID, frameLen int) []byte {
	return AppendBadRequest(dst, id, cmd.String()+" reply of "+strconv.Itoa(frameLen)+
		" bytes exceeds the 64 MiB frame limit")
}
