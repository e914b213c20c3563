// Package pebblebench compares store/index with Pebble (WAL disabled: the
// transaction log is the WAL) on the same workload: 10M entries over 100k
// streams, bulk add, point Get, Range of 100 entries, Last, and reopen.
//
// It is a separate module so that Pebble and its dependencies stay out of
// the server's go.mod. Run from this directory:
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 60m
//
// The results and the choice they support are recorded in store/index's
// package doc.
package pebblebench
