// Package config owns the node's options: the complete option table of
// Event Store 4.0.3 (spec cluster-and-options §1.8) plus this project's own
// options, their parsing from the three sources with 4.0.3's precedence
// (command line > EVENTSTORE_* environment > YAML file given by --config >
// default, §1.1), value syntax (§1.3), YAML format (§1.4), error texts
// (§1.5) and start-up validation (§1.6); and the --help text and the
// --what-if effective-configuration dump.
//
// It leaves to others what the options mean: node.New reads an *Options
// and wires the services. Load runs once on the start-up goroutine; the
// resulting Options is read-only and safe to read from any goroutine.
//
// Names: each option has one PascalCase property name. The command line
// and YAML keys compare names case-insensitively with every '-' deleted;
// the environment variable is EVENTSTORE_ + the name split into upper-case
// words (DisableHTTPCaching → EVENTSTORE_DISABLE_HTTP_CACHING).
package config
