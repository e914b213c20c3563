package config

import (
	"strings"
	"unicode"
)

// normalizeName folds a name the way 4.0.3 compares option names on the
// command line and in YAML: every '-' deleted, then case-insensitive
// (spec §1.2). "--Ext-HTTP-port" and "ExtHttpPort" both give "exthttpport".
func normalizeName(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "-", ""))
}

// splitWords splits a PascalCase property name into words at the
// boundaries of spec §1.2 (EventStore.Rags NameTranslators): before an
// upper-case letter that follows a lower-case letter or digit, before the
// last capital of an acronym that is followed by a lower-case letter, and
// between letters and non-letters.
//
//	DisableHTTPCaching → Disable HTTP Caching
//	IntTcpHeartbeatTimeout → Int Tcp Heartbeat Timeout
func splitWords(name string) []string {
	r := []rune(name)
	var words []string
	start := 0
	for i := 1; i < len(r); i++ {
		prev, cur := r[i-1], r[i]
		boundary := false
		switch {
		case unicode.IsUpper(cur) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			boundary = true
		case unicode.IsUpper(cur) && unicode.IsUpper(prev) && i+1 < len(r) && unicode.IsLower(r[i+1]):
			boundary = true
		case unicode.IsLetter(cur) != unicode.IsLetter(prev):
			boundary = true
		}
		if boundary {
			words = append(words, string(r[start:i]))
			start = i
		}
	}
	return append(words, string(r[start:]))
}

// EnvName returns the environment variable for a property name:
// EVENTSTORE_ + upper-case words joined by '_' (spec §1.2).
func EnvName(property string) string {
	return envPrefix + strings.ToUpper(strings.Join(splitWords(property), "_"))
}

// envPrefix is the prefix of every option's environment variable.
const envPrefix = "EVENTSTORE_"

// KebabName returns the documented command-line spelling without the
// leading dashes: lower-case words joined by '-' (spec §1.2).
func KebabName(property string) string {
	return strings.ToLower(strings.Join(splitWords(property), "-"))
}

// dumpName is the name as the effective-config dump prints it:
// upper-case words joined by spaces ("INT TCP HEARTBEAT TIMEOUT").
func dumpName(property string) string {
	return strings.ToUpper(strings.Join(splitWords(property), " "))
}

// suggest returns the kebab name of the known option closest to the
// unknown normalized name, or "" when nothing is close enough to help.
func suggest(unknown string) string {
	best, bestDist := "", 1<<30
	for _, op := range options {
		n := normalizeName(op.Name)
		d := editDistance(unknown, n)
		// A prefix or suffix relation is a strong hint even when the
		// distance is large ("port" for "exthttpport" is not, so require
		// a reasonable length).
		if len(unknown) >= 4 && (strings.HasPrefix(n, unknown) || strings.HasSuffix(n, unknown)) {
			d = min(d, 2)
		}
		if d < bestDist {
			best, bestDist = op.Name, d
		}
	}
	if bestDist > max(2, len(unknown)/3) {
		return ""
	}
	return KebabName(best)
}

// editDistance is the Levenshtein distance of two short ASCII names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
