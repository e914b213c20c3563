package httpfront

import "unsafe"

// b2s views b as a string without copying. REQUIRES: b is not modified
// while the string is in use (callers use it for lookups and appends that
// finish before b is reused).
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// s2b views s as bytes without copying. REQUIRES: the bytes are never
// written (fasthttp copies header values it is given).
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
