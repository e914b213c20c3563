//go:build race

package consensus

// The race detector slows the simulation about tenfold; a race build
// runs a third of the seeds (a few hundred still run without -race).
const raceDivisor = 3
