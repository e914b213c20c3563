package index

import (
	"fmt"
	"strconv"
	"strings"
)

// On-disk file names of the index directory, all in one place.
const (
	// mapFileName is the index map: the live ptables and the checkpoint.
	mapFileName = "indexmap"
	// mapTempFileName is where a new map is written before it is renamed
	// over mapFileName.
	mapTempFileName = "indexmap.tmp"
	// ptablePrefix and ptableSuffix frame a ptable's sequence number:
	// "ptable-000000000042.ptb".
	ptablePrefix = "ptable-"
	ptableSuffix = ".ptb"
)

func ptableFileName(seq uint64) string {
	return fmt.Sprintf("%s%012d%s", ptablePrefix, seq, ptableSuffix)
}

// parsePtableFileName returns the sequence number of a ptable file name and
// whether name is one.
func parsePtableFileName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, ptablePrefix) || !strings.HasSuffix(name, ptableSuffix) {
		return 0, false
	}
	s := name[len(ptablePrefix) : len(name)-len(ptableSuffix)]
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return seq, true
}
