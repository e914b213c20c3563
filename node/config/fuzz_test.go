package config

import (
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary command lines, environment values and YAML
// files to the loader: it must return options or an error, never panic,
// and every error must wrap one of the package's sentinels.
func FuzzLoad(f *testing.F) {
	f.Add("--ext-http-port 2113 --mem-db", "EVENTSTORE_CLUSTER_SIZE=3", "ExtTcpPort: 1113\nGossipSeed: [10.0.0.1:2112]\n")
	f.Add("--mem-db- --gossip-seed=a:b -X", "EVENTSTORE_MEM_DB=", "- a\n- b\n")
	f.Add("--config", "EVENTSTORE_EXT_IP=::1", "Db: &a x\nLog: *a\n")
	f.Add("--run-projections all --min-flush-delay-ms 1e308", "", "{ExtHttpPort: [1, {a: b}]}\n---\nA: 1\n")
	f.Fuzz(func(t *testing.T, args, env, file string) {
		l := Loader{
			Args:    strings.Fields(args),
			Environ: strings.Split(env, "\n"),
			ReadFile: func(string) ([]byte, error) {
				return []byte(file), nil
			},
		}
		l.Args = append(l.Args, "--config", "f.yaml")
		o, err := l.Load()
		if o == nil {
			t.Fatal("Load returned nil options")
		}
		if err != nil {
			if !errorsIsAny(err, ErrUnknownOption, ErrBadValue, ErrConfigFile) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if _, verr := o.Validate(); verr != nil && !errorsIsAny(verr, ErrInvalid) {
			t.Fatalf("validation error without ErrInvalid: %v", verr)
		}
		o.WriteEffective(discard{})
		_ = o.Info()
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func errorsIsAny(err error, kinds ...error) bool {
	// errors.Join wraps several errors: each must match one kind.
	type multi interface{ Unwrap() []error }
	if m, ok := err.(multi); ok {
		for _, e := range m.Unwrap() {
			if !errorsIsAny(e, kinds...) {
				return false
			}
		}
		return true
	}
	for _, k := range kinds {
		if e, ok := err.(*Error); ok && e.kind == k {
			return true
		}
	}
	return false
}
