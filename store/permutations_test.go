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
