//go:build !long

package consensus

const longFactor = 1
