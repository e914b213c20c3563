package tlog

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Every file the log keeps in its directory. Names follow Event Store 4.0.3
// (spec cluster-and-options §6.3) so operators find what they expect.
const (
	// writerCheckpointName holds the logical end of durable data.
	writerCheckpointName = "writer"
	// truncateCheckpointName holds a pending truncation position, -1 when
	// none: a truncation is redone on open if the process died mid-way.
	truncateCheckpointName = "truncate"
	checkpointSuffix       = ".chk"
	// lockFileName is flock'ed so two processes cannot open one log.
	lockFileName = "LOCK"
	chunkPrefix  = "chunk-"
)

// chunkFileName is "chunk-NNNNNN.MMMMMM": chunk number and version (always
// 0 until scavenging rewrites chunks), as Event Store names chunk files.
func chunkFileName(num int64, version int) string {
	return fmt.Sprintf("%s%06d.%06d", chunkPrefix, num, version)
}

func checkpointFileName(name string) string { return name + checkpointSuffix }

// parseChunkFileName returns the number and version of a chunk file name.
func parseChunkFileName(name string) (num int64, version int, ok bool) {
	rest, found := strings.CutPrefix(name, chunkPrefix)
	if !found {
		return 0, 0, false
	}
	numStr, verStr, found := strings.Cut(rest, ".")
	if !found || len(numStr) < 6 || len(verStr) < 6 {
		return 0, 0, false
	}
	n, err1 := strconv.ParseInt(numStr, 10, 64)
	v, err2 := strconv.Atoi(verStr)
	if err1 != nil || err2 != nil || n < 0 || v < 0 {
		return 0, 0, false
	}
	return n, v, true
}

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }
