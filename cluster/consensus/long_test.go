//go:build long

package consensus

// Thousands of seeds under -tags long.
const longFactor = 20
