//go:build !race

package consensus

const raceDivisor = 1
