package store

import "testing"

// TestSemanticsOnDisk reruns the semantic scenarios over real files and
// fsync instead of the in-memory filesystem: the option that changes the
// bytes' path to disk and the timing of group commits.
func TestSemanticsOnDisk(t *testing.T) {
	testOnDisk = true
	defer func() { testOnDisk = false }()
	for name, fn := range map[string]func(*testing.T){
		"expected versions": TestExpectedVersionRules,
		"idempotency":       TestIdempotencyTable,
		"soft delete":       TestSoftDelete,
		"hard delete":       TestHardDelete,
		"metadata":          TestMetadataAppliesToReads,
		"transactions":      TestTransactions,
		"read tables":       TestReadStreamTables,
		"$all":              TestReadAll,
		"links":             TestLinkResolution,
	} {
		t.Run(name, fn)
	}
}

// TestSemanticsPipelined runs the semantics and the fault tests again with
// the pipelined single-node committer (flusher and applier goroutines, two
// batches in flight) instead of the inline one.
func TestSemanticsPipelined(t *testing.T) {
	testPipelineDepth = 2
	defer func() { testPipelineDepth = 0 }()
	for name, fn := range map[string]func(*testing.T){
		"expected versions":   TestExpectedVersionRules,
		"idempotency":         TestIdempotencyTable,
		"soft delete":         TestSoftDelete,
		"hard delete":         TestHardDelete,
		"metadata":            TestMetadataAppliesToReads,
		"transactions":        TestTransactions,
		"tx on metastreams":   TestTransactionsOnMetastreamsAndSoftDeletedStreams,
		"$all":                TestReadAll,
		"Nth operation error": TestNthOperationErrorLoop,
		"crash clones":        TestCrashClonesNeverLoseAcknowledgedWrites,
		"failed fsync":        TestFailedFsyncLatches,
		"disk full":           TestDiskFull,
		"truncation":          TestReadersSurviveTruncation,
		"queue limit":         TestQueueLimit,
		"on committed":        TestOnCommittedAndStats,
		"reopen":              TestReopenKeepsEverything,
		"close":               TestCloseLeavesNoGoroutines,
	} {
		t.Run(name, fn)
	}
}
