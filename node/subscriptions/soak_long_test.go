//go:build long

package subscriptions

func init() { soakEvents = 1_000_000 }
