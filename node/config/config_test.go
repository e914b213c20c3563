package config

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env []string, files map[string]string) (*Options, error) {
	t.Helper()
	l := Loader{Args: args, Environ: env, ReadFile: func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}}
	return l.Load()
}

func mustLoad(t *testing.T, args []string, env []string, files map[string]string) *Options {
	t.Helper()
	o, err := load(t, args, env, files)
	if err != nil {
		t.Fatalf("unexpected error for args %q env %q: %v", args, env, err)
	}
	return o
}

func TestNameDerivation(t *testing.T) {
	f := func(prop, env, kebab string) {
		t.Helper()
		if got := EnvName(prop); got != env {
			t.Errorf("unexpected env name for %s; got %s; want %s", prop, got, env)
		}
		if got := KebabName(prop); got != kebab {
			t.Errorf("unexpected kebab name for %s; got %s; want %s", prop, got, kebab)
		}
	}
	// Examples from spec §1.2 and §1.8.
	f("IntTcpHeartbeatTimeout", "EVENTSTORE_INT_TCP_HEARTBEAT_TIMEOUT", "int-tcp-heartbeat-timeout")
	f("DisableHTTPCaching", "EVENTSTORE_DISABLE_HTTP_CACHING", "disable-http-caching")
	f("DisableInsecureTCP", "EVENTSTORE_DISABLE_INSECURE_TCP", "disable-insecure-tcp")
	f("Db", "EVENTSTORE_DB", "db")
	f("MemDb", "EVENTSTORE_MEM_DB", "mem-db")
	f("ExtIpAdvertiseAs", "EVENTSTORE_EXT_IP_ADVERTISE_AS", "ext-ip-advertise-as")
	f("StatsPeriodSec", "EVENTSTORE_STATS_PERIOD_SEC", "stats-period-sec")
	f("ConnectionPendingSendBytesThreshold", "EVENTSTORE_CONNECTION_PENDING_SEND_BYTES_THRESHOLD", "connection-pending-send-bytes-threshold")
	f("GossipAllowedDifferenceMs", "EVENTSTORE_GOSSIP_ALLOWED_DIFFERENCE_MS", "gossip-allowed-difference-ms")
}

func TestDefaultsMatchSpec(t *testing.T) {
	o := Default()
	f := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("unexpected default %s; got %v; want %v", name, got, want)
		}
	}
	f("ExtTcpPort", o.ExtTcpPort, 1113)
	f("ExtHttpPort", o.ExtHttpPort, 2113)
	f("IntTcpPort", o.IntTcpPort, 1112)
	f("IntHttpPort", o.IntHttpPort, 2112)
	f("IntIp", o.IntIp, netip.MustParseAddr("127.0.0.1"))
	f("ExtIpAdvertiseAs", o.ExtIpAdvertiseAs.IsValid(), false)
	f("IntTcpHeartbeatTimeout", o.IntTcpHeartbeatTimeout, 700*time.Millisecond)
	f("IntTcpHeartbeatInterval", o.IntTcpHeartbeatInterval, 700*time.Millisecond)
	f("ExtTcpHeartbeatInterval", o.ExtTcpHeartbeatInterval, 2000*time.Millisecond)
	f("ExtTcpHeartbeatTimeout", o.ExtTcpHeartbeatTimeout, 1000*time.Millisecond)
	f("GossipInterval", o.GossipInterval, time.Second)
	f("GossipTimeout", o.GossipTimeout, 500*time.Millisecond)
	f("GossipAllowedDifference", o.GossipAllowedDifference, time.Minute)
	f("ClusterSize", o.ClusterSize, 1)
	f("DiscoverViaDns", o.DiscoverViaDns, true)
	f("ClusterDns", o.ClusterDns, "fake.dns")
	f("ClusterGossipPort", o.ClusterGossipPort, 30777)
	f("PrepareTimeout", o.PrepareTimeout, 2*time.Second)
	f("CommitTimeout", o.CommitTimeout, 2*time.Second)
	f("MinFlushDelay", o.MinFlushDelay, 2*time.Millisecond)
	f("ChunksCacheSize", o.ChunksCacheSize, int64(536871424))
	f("ConnectionPendingSendBytesThreshold", o.ConnectionPendingSendBytesThreshold, 10485760)
	f("AdminOnExt", o.AdminOnExt, true)
	f("SslTargetHost", o.SslTargetHost, "n/a")
	f("RunProjections", o.RunProjections, ProjectionsNone)
	f("AuthenticationType", o.AuthenticationType, "internal")
	f("MaxTruncation", o.MaxTruncation, int64(256<<20))
	f("ScavengeHistoryMaxAge", o.ScavengeHistoryMaxAge, 30*24*time.Hour)
	if _, err := o.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

// TestFormatRoundTrip checks that every option's default formats back to
// the text it was parsed from, so --what-if and /info/options print what
// the operator would type.
func TestFormatRoundTrip(t *testing.T) {
	o := Default()
	for i := range options {
		op := &options[i]
		if got := formatValue(op, o); got != op.Default {
			t.Errorf("unexpected formatted default of %s; got %q; want %q", op.Name, got, op.Default)
		}
	}
}

func TestCommandLineSyntax(t *testing.T) {
	f := func(args []string, check func(o *Options) bool) {
		t.Helper()
		o := mustLoad(t, args, nil, nil)
		if !check(o) {
			t.Errorf("unexpected result for %q", args)
		}
	}
	f([]string{"--ext-http-port", "3113"}, func(o *Options) bool { return o.ExtHttpPort == 3113 })
	f([]string{"--ext-http-port=3113"}, func(o *Options) bool { return o.ExtHttpPort == 3113 })
	f([]string{"-ExtHttpPort", "3113"}, func(o *Options) bool { return o.ExtHttpPort == 3113 })
	f([]string{"--exthttpport", "3113"}, func(o *Options) bool { return o.ExtHttpPort == 3113 })
	f([]string{"--EXT-HTTP-PORT=3113"}, func(o *Options) bool { return o.ExtHttpPort == 3113 })
	f([]string{"--mem-db"}, func(o *Options) bool { return o.MemDb })
	f([]string{"--mem-db", "false"}, func(o *Options) bool { return !o.MemDb })
	f([]string{"--mem-db", "0"}, func(o *Options) bool { return !o.MemDb })
	f([]string{"--mem-db", "TRUE"}, func(o *Options) bool { return o.MemDb })
	f([]string{"--mem-db=false"}, func(o *Options) bool { return !o.MemDb })
	f([]string{"--mem-db=no"}, func(o *Options) bool { return o.MemDb }) // 4.0.3: only false/0 are false
	f([]string{"--mem-db+"}, func(o *Options) bool { return o.MemDb })
	f([]string{"--admin-on-ext-"}, func(o *Options) bool { return !o.AdminOnExt })
	// A bool flag does not swallow a following non-literal token.
	f([]string{"--mem-db", "--ext-tcp-port", "4113"}, func(o *Options) bool { return o.MemDb && o.ExtTcpPort == 4113 })
	f([]string{"--mem-db", "stray"}, func(o *Options) bool { return o.MemDb && len(o.Notices()) == 1 })
	f([]string{"--commit-count", "-1"}, func(o *Options) bool { return o.CommitCount == -1 })
	f([]string{"--gossip-seed", "10.0.0.2:2112,10.0.0.3:2112"}, func(o *Options) bool {
		return len(o.GossipSeed) == 2 && o.GossipSeed[1] == netip.MustParseAddrPort("10.0.0.3:2112")
	})
	f([]string{"--gossip-seed", "10.0.0.2:2112", "--gossip-seed=10.0.0.3:2112"}, func(o *Options) bool { return len(o.GossipSeed) == 2 })
	f([]string{"--run-projections", "all"}, func(o *Options) bool { return o.RunProjections == ProjectionsAll })
	f([]string{"--run-projections", "1"}, func(o *Options) bool { return o.RunProjections == ProjectionsSystem })
	f([]string{"--min-flush-delay-ms", "0.5"}, func(o *Options) bool { return o.MinFlushDelay == 500*time.Microsecond })
	f([]string{"--ext-ip", "::1"}, func(o *Options) bool { return o.ExtIp == netip.IPv6Loopback() })
	f([]string{"--db", "/tmp/x", "--db", "/tmp/y"}, func(o *Options) bool { return o.Db == "/tmp/y" })
	f([]string{"--ext-http-prefixes", "http://*:2113/,http://a:2113/"}, func(o *Options) bool { return len(o.ExtHttpPrefixes) == 2 })
}

func TestOptionErrors(t *testing.T) {
	f := func(args []string, kind error, wantParts ...string) {
		t.Helper()
		_, err := load(t, args, nil, nil)
		if err == nil {
			t.Fatalf("expected an error for %q", args)
		}
		if !errors.Is(err, kind) {
			t.Errorf("unexpected error kind for %q; got %v; want %v", args, err, kind)
		}
		for _, p := range wantParts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error for %q lacks %q; got %q", args, p, err.Error())
			}
		}
	}
	f([]string{"--advertise-as", "10.0.0.1"}, ErrUnknownOption, "The option advertiseas is not a known option", "--ext-ip-advertise-as", "--int-ip-advertise-as")
	f([]string{"--ext-htp-port", "1"}, ErrUnknownOption, "The option exthtpport is not a known option", "did you mean --ext-http-port?")
	f([]string{"--log-level", "debug"}, ErrUnknownOption, "loglevel is not a known option", "no --log-level")
	f([]string{"--chunk-size=1"}, ErrUnknownOption, "chunksize is not a known option", "256 MiB")
	f([]string{"--http-port=1"}, ErrUnknownOption, "httpport is not a known option", "use --ext-http-port")
	f([]string{"--insecure"}, ErrUnknownOption, "insecure is not a known option", "20.x")
	f([]string{"--skip-index-verify"}, ErrUnknownOption, "4.1.0")
	f([]string{"--ext-http-port", "abc"}, ErrBadValue, "The value abc could not be converted to Int32", "ExtHttpPort", "--ext-http-port", "Command Line")
	f([]string{"--ext-http-port", "99999999999"}, ErrBadValue, "could not be converted to Int32")
	f([]string{"--ext-ip", "localhost"}, ErrBadValue, "The value localhost could not be converted to IPAddress")
	f([]string{"--gossip-seed", "a.b:2112"}, ErrBadValue, "could not be converted to IPEndPoint[]")
	f([]string{"--run-projections", "some"}, ErrBadValue, "could not be converted to ProjectionType")
	f([]string{"--chunks-cache-size", "x"}, ErrBadValue, "converted to Int64")
	f([]string{"--min-flush-delay-ms", "x"}, ErrBadValue, "converted to Double")
	f([]string{"--ext-http-port"}, ErrBadValue, "requires a value of type Int32")
	f([]string{"--db", "--mem-db"}, ErrBadValue, "requires a value of type String")
	f([]string{"--config", "/nope.yaml"}, ErrConfigFile, "The specified config file /nope.yaml could not be found")
}

func TestEnvironment(t *testing.T) {
	o := mustLoad(t, nil, []string{
		"EVENTSTORE_EXT_HTTP_PORT=4113", "EVENTSTORE_MEM_DB=1", "EVENTSTORE_GOSSIP_SEED=10.0.0.2:2112,10.0.0.3:2112",
		"EVENTSTORE_DB=", // empty = absent
		"EVENTSTORE_ADVERTISE_AS=1.2.3.4", "PATH=/bin",
		"EVENTSTORE_DISABLE_HTTP_CACHING=yes",
	}, nil)
	if o.ExtHttpPort != 4113 || !o.MemDb || len(o.GossipSeed) != 2 || !o.DisableHTTPCaching {
		t.Fatalf("unexpected env result: port %d memdb %t seeds %v caching %t", o.ExtHttpPort, o.MemDb, o.GossipSeed, o.DisableHTTPCaching)
	}
	if o.Source("Db") != SourceDefault || o.Source("ExtHttpPort") != SourceEnv {
		t.Fatalf("unexpected sources: Db %v ExtHttpPort %v", o.Source("Db"), o.Source("ExtHttpPort"))
	}
	if n := o.Notices(); len(n) != 1 || !strings.Contains(n[0], "EVENTSTORE_ADVERTISE_AS") {
		t.Fatalf("unexpected notices %q", n)
	}
	// Env names are exact: a differently spelled variable is not an option.
	o = mustLoad(t, nil, []string{"EVENTSTORE_EXTHTTPPORT=4113"}, nil)
	if o.ExtHttpPort != 2113 {
		t.Fatalf("EVENTSTORE_EXTHTTPPORT must not set ExtHttpPort")
	}
	_, err := load(t, nil, []string{"EVENTSTORE_EXT_TCP_PORT=x"}, nil)
	if !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), "Environment Variable") {
		t.Fatalf("unexpected error %v", err)
	}
}

const sampleYAML = `---
Db: /var/lib/eventstore
Log: /var/log/eventstore
IntIp: 10.0.0.1
ExtIp: 10.0.0.1
IntTcpPort: 1112
ExtTcpPort: 1113
IntHttpPort: 2112
ExtHttpPort: 2113
ClusterSize: 3
DiscoverViaDns: false
GossipSeed:
  - 10.0.0.2:2112
  - 10.0.0.3:2112
ExtHttpPrefixes: http://*:2113/
IntHttpPrefixes: http://*:2112/
AddInterfacePrefixes: false
RunProjections: None
IntTcpHeartbeatInterval: 5000
IntTcpHeartbeatTimeout: 1000
ExtTcpHeartbeatInterval: 5000
ext-tcp-heartbeat-timeout: 1000
Plugin:
  Nested: value
---
`

func TestYAMLFile(t *testing.T) {
	o := mustLoad(t, []string{"--config", "es.yaml"}, nil, map[string]string{"es.yaml": sampleYAML})
	if o.ClusterSize != 3 || o.DiscoverViaDns || len(o.GossipSeed) != 2 || o.ExtTcpHeartbeatTimeout != time.Second ||
		o.IntIp != netip.MustParseAddr("10.0.0.1") || len(o.ExtHttpPrefixes) != 1 || o.AddInterfacePrefixes {
		t.Fatalf("unexpected options from the spec's sample file: %+v", o)
	}
	if o.Source("ClusterSize") != SourceFile || o.Source("Config") != SourceCLI || o.ConfigFile() != "es.yaml" {
		t.Fatalf("unexpected sources")
	}
	// A plain mapping without --- also parses; "Key:" with no value is unset.
	o = mustLoad(t, []string{"--config", "b.yaml"}, nil, map[string]string{"b.yaml": "ExtHttpPort: 3000\nDb:\n"})
	if o.ExtHttpPort != 3000 || o.Source("Db") != SourceDefault {
		t.Fatalf("unexpected plain-mapping result")
	}

	f := func(content string, wantParts ...string) {
		t.Helper()
		_, err := load(t, []string{"--config", "bad.yaml"}, nil, map[string]string{"bad.yaml": content})
		if err == nil {
			t.Fatalf("expected an error for %q", content)
		}
		for _, p := range wantParts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error for %q lacks %q; got %q", content, p, err.Error())
			}
		}
	}
	f("ExtHttpPort: 2113\nAdvertiseAs: 1.2.3.4\n", "bad.yaml:2:", "advertiseas is not a known option", "--ext-ip-advertise-as")
	f("ExtHttpPort: 2113\nExtTcpPort: : x\n", "bad.yaml:2: mapping values are not allowed", "An invalid configuration file has been specified.")
	f("ExtHttpPort: 2113\n\tClusterSize: 3\n", "bad.yaml:2: found a tab character")
	f("ExtHttpPort: 2113\nExtTcpPort: [1\n", "bad.yaml:", "did not find expected")
	f("ClusterSize: three\n", "bad.yaml:1:", "The value three could not be converted to Int32", "ClusterSize", "Config File")
	f("- a\n- b\n", "bad.yaml:1:", "must be a mapping")
	f("ExtHttpPort: 1\nExtHttpPort: 2\n", "bad.yaml:2:", "set twice (first on line 1)")
	f("ExtHttpPort:\n  - 1\n", "takes a single value")
}

// TestPrecedence checks every pair of spec §1.1: command line >
// environment > config file > default, without merging lists.
// TestClusterIdSources: --cluster-id, EVENTSTORE_CLUSTER_ID and the YAML
// key ClusterId all set the cluster identity, with the usual precedence.
func TestClusterIdSources(t *testing.T) {
	f := func(args, env []string, files map[string]string, want string) {
		t.Helper()
		if got := mustLoad(t, args, env, files).ClusterId; got != want {
			t.Errorf("unexpected ClusterId for %q %q; got %q; want %q", args, env, got, want)
		}
	}
	yaml := map[string]string{"es.yaml": "ClusterId: from-file\n"}
	f(nil, nil, nil, "")
	f([]string{"--config", "es.yaml"}, nil, yaml, "from-file")
	f([]string{"--config", "es.yaml"}, []string{"EVENTSTORE_CLUSTER_ID=from-env"}, yaml, "from-env")
	f([]string{"--config", "es.yaml", "--cluster-id", "from-args"}, []string{"EVENTSTORE_CLUSTER_ID=from-env"}, yaml, "from-args")
}

func TestPrecedence(t *testing.T) {
	files := map[string]string{"c.yaml": "ExtHttpPort: 1001\nExtTcpPort: 1002\nIntTcpPort: 1003\nGossipSeed: [10.0.0.9:2112, 10.0.0.8:2112]\n"}
	env := []string{"EVENTSTORE_EXT_HTTP_PORT=2001", "EVENTSTORE_EXT_TCP_PORT=2002", "EVENTSTORE_INT_HTTP_PORT=2004", "EVENTSTORE_GOSSIP_SEED=10.0.0.7:2112"}
	args := []string{"--config", "c.yaml", "--ext-http-port", "3001", "--int-secure-tcp-port=0", "--int-http-port=3004"}
	o := mustLoad(t, args, env, files)
	f := func(name string, got, want int, src Source) {
		t.Helper()
		if got != want || o.Source(name) != src {
			t.Errorf("unexpected %s; got %d (%v); want %d (%v)", name, got, o.Source(name), want, src)
		}
	}
	f("ExtHttpPort", o.ExtHttpPort, 3001, SourceCLI)  // cli > env > file
	f("IntHttpPort", o.IntHttpPort, 3004, SourceCLI)  // cli > env
	f("ExtTcpPort", o.ExtTcpPort, 2002, SourceEnv)    // env > file
	f("IntTcpPort", o.IntTcpPort, 1003, SourceFile)   // file > default
	f("ClusterSize", o.ClusterSize, 1, SourceDefault) // default
	f("IntSecureTcpPort", o.IntSecureTcpPort, 0, SourceCLI)
	if len(o.GossipSeed) != 1 || o.Source("GossipSeed") != SourceEnv {
		t.Errorf("lists must not merge across sources; got %v", o.GossipSeed)
	}
	// EVENTSTORE_CONFIG does not load a file (spec §1.1 quirk).
	o = mustLoad(t, nil, []string{"EVENTSTORE_CONFIG=c.yaml"}, files)
	if o.ExtHttpPort != 2113 || o.Config != "c.yaml" || o.ConfigFile() != "" {
		t.Errorf("EVENTSTORE_CONFIG must not load a file")
	}
}

func TestDefaultConfigFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "eventstore.conf")
	if err := os.WriteFile(p, []byte("ExtHttpPort: 1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Loader{ReadFile: os.ReadFile, DefaultConfigPath: p}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if o.ExtHttpPort != 1234 || o.Config != p || o.Source("Config") != SourceDefault {
		t.Fatalf("unexpected default-file result: port %d config %q source %v", o.ExtHttpPort, o.Config, o.Source("Config"))
	}
	// --config on the command line replaces the default file.
	_, err = Loader{Args: []string{"--config", p + ".x"}, ReadFile: os.ReadFile, DefaultConfigPath: p}.Load()
	if !errors.Is(err, ErrConfigFile) {
		t.Fatalf("unexpected error %v", err)
	}
}

func TestValidate(t *testing.T) {
	f := func(args []string, wantParts ...string) {
		t.Helper()
		o := mustLoad(t, args, nil, nil)
		_, err := o.Validate()
		if len(wantParts) == 0 {
			if err != nil {
				t.Errorf("unexpected validation error for %q: %v", args, err)
			}
			return
		}
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("expected ErrInvalid for %q; got %v", args, err)
		}
		for _, p := range wantParts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error for %q lacks %q; got %q", args, p, err.Error())
			}
		}
	}
	f([]string{"--db", "~/data"}, "starts with a '~'")
	f([]string{"--db", "~/data", "--force"})
	f([]string{"--log", "~/logs"}, "log path starts with a '~'")
	f([]string{"--gossip-seed", "10.0.0.2:2112,10.0.0.3:2112"}, "ClusterSize is set to 1 but GossipSeeds are multiple")
	f([]string{"--cluster-size", "3", "--discover-via-dns=false"}, "no gossip seed endpoints have been specified")
	f([]string{"--cluster-size", "3", "--discover-via-dns=false", "--gossip-seed", "10.0.0.2:2112,10.0.0.3:2112"})
	f([]string{"--cluster-size", "0"}, "ClusterSize must be between 1 and")
	f([]string{"--cluster-size", "65", "--discover-via-dns=false", "--gossip-seed", "10.0.0.2:2112"}, "ClusterSize must be between 1 and 64")
	f([]string{"--cluster-size", "64", "--discover-via-dns=false", "--gossip-seed", "10.0.0.2:2112"})
	f([]string{"--disable-insecure-tcp"}, "without using internal SSL")
	f([]string{"--use-internal-ssl", "--int-secure-tcp-port", "1115"}, "No SSL target host specified.")
	f([]string{"--ext-secure-tcp-port", "1115"}, "No server certificate specified.")
	f([]string{"--ext-secure-tcp-port", "1115", "--certificate-file", "x.p12"}, "not supported by this server yet")
	f([]string{"--authentication-type", "ldap"}, `authentication type "ldap" is not known`)
	f([]string{"--ext-http-port", "70000"}, "ExtHttpPort must be between 1 and 65535")
	f([]string{"--ext-tcp-port", "0"}, "ExtTcpPort must be between 1 and 65535")
	f([]string{"--ext-tcp-port", "2113"}, "ExtTcpPort and ExtHttpPort are both 2113")
	f([]string{"--cluster-size", "3", "--discover-via-dns=false", "--gossip-seed", "10.0.0.2:2112", "--int-http-port", "2113", "--int-ip", "0.0.0.0"},
		"ExtHttpPort and IntHttpPort are both 2113")
	// Different IPs may share a port.
	f([]string{"--cluster-size", "3", "--discover-via-dns=false", "--gossip-seed", "10.0.0.2:2112", "--int-http-port", "2113", "--int-ip", "127.0.0.2"})
	f([]string{"--cluster-size", "3", "--discover-via-dns=false", "--gossip-seed", "10.0.0.2:2112", "--int-ip", "0.0.0.0", "--add-interface-prefixes=false"},
		"set IntIpAdvertiseAs")
	f([]string{"--ext-ip-advertise-as", "0.0.0.0"}, "ExtIpAdvertiseAs cannot be 0.0.0.0")
	f([]string{"--ext-tcp-heartbeat-interval", "0"}, "ExtTcpHeartbeatInterval must be positive")
	f([]string{"--tcp-event-loops", "5000"}, "TcpEventLoops must be between 0 and 1024")
	f([]string{"--max-truncation", "-2"}, "MaxTruncation must be -1")
	f([]string{"--connection-pending-send-bytes-threshold", "0"}, "ConnectionPendingSendBytesThreshold must be positive")
	f([]string{"--cluster-id", strings.Repeat("c", 128)})
	f([]string{"--cluster-id", strings.Repeat("c", 129)}, "ClusterId must be at most 128 visible ASCII characters")
	f([]string{"--cluster-id", "prod east"}, "ClusterId must be at most 128", `"prod east"`)
	f([]string{"--cluster-id", "prod\r\nX-Evil: 1"}, "ClusterId must be at most 128")

	o := mustLoad(t, []string{"--cluster-size", "3", "--gossip-seed", "10.0.0.2:2112", "--run-projections", "all"}, nil, nil)
	warns, err := o.Validate()
	if err != nil || len(warns) != 2 || !strings.Contains(warns[0], "GossipSeed is ignored") || !strings.Contains(warns[1], "projections") {
		t.Fatalf("unexpected warnings %q err %v", warns, err)
	}
}

func TestListeners(t *testing.T) {
	o := mustLoad(t, nil, nil, nil)
	if ls := o.Listeners(); len(ls) != 2 || ls[0].Addr() != "127.0.0.1:1113" || ls[1].Addr() != "127.0.0.1:2113" {
		t.Fatalf("unexpected single-node listeners %+v", ls)
	}
	o = mustLoad(t, []string{"--cluster-size=3", "--int-ip=127.0.0.2", "--ext-ip=::1"}, nil, nil)
	ls := o.Listeners()
	want := []string{"external TCP [::1]:1113", "external HTTP [::1]:2113", "internal TCP 127.0.0.2:1112", "internal HTTP 127.0.0.2:2112"}
	if len(ls) != len(want) {
		t.Fatalf("unexpected cluster listeners %+v", ls)
	}
	for i, l := range ls {
		if got := l.Name + " " + l.Addr(); got != want[i] {
			t.Errorf("unexpected listener %d; got %s; want %s", i, got, want[i])
		}
	}
	if q := o.Quorum(); q != 2 || o.EffectiveCommitCount() != 2 {
		t.Errorf("unexpected quorum %d", q)
	}
}

func TestUsageAndDumpCoverEveryOption(t *testing.T) {
	var help bytes.Buffer
	WriteUsage(&help, "eventstored")
	o := mustLoad(t, []string{"--cluster-size", "3", "--certificate-password", "secret", "--gossip-seed", "10.0.0.2:2112,10.0.0.3:2112"}, nil, nil)
	var dump bytes.Buffer
	o.WriteEffective(&dump)
	for _, op := range options {
		if !strings.Contains(help.String(), "\n  --"+KebabName(op.Name)+" ") && !strings.Contains(help.String(), "\n  --"+KebabName(op.Name)+"\n") {
			t.Errorf("--help lacks %s", op.Name)
		}
		if !strings.Contains(dump.String(), "\t"+dumpName(op.Name)+":") {
			t.Errorf("--what-if dump lacks %s", op.Name)
		}
	}
	for _, g := range groupOrder {
		if !strings.Contains(help.String(), strings.ToUpper(string(g))+" OPTIONS") {
			t.Errorf("--help lacks group %s", g)
		}
	}
	if !strings.Contains(help.String(), "[eventstored]") {
		t.Errorf("--help does not mark our options")
	}
	d := dump.String()
	mod, def, _ := strings.Cut(d, "DEFAULT OPTIONS:")
	if !strings.Contains(mod, "CLUSTER SIZE:") || !strings.Contains(mod, "3 (Command Line)") || strings.Contains(def, "CLUSTER SIZE:") {
		t.Errorf("unexpected dump:\n%s", d)
	}
	if strings.Contains(d, "secret") || !strings.Contains(d, "[ 10.0.0.2:2112, 10.0.0.3:2112 ]") || !strings.Contains(def, "<empty> (<DEFAULT>)") {
		t.Errorf("unexpected dump:\n%s", d)
	}
	for _, info := range o.Info() {
		if info.Name == "CertificatePassword" && info.Value != "" {
			t.Errorf("/info/options leaks the certificate password")
		}
		if info.Name == "GossipSeed" && info.Value != "10.0.0.2:211210.0.0.3:2112" {
			t.Errorf("unexpected GossipSeed info value %q", info.Value)
		}
	}
}

// TestConfigFileSizeLimit checks that a config file over the 1 MiB limit
// is refused with a clear error instead of being read into memory.
func TestConfigFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.yaml")
	big := strings.Repeat("# padding\n", maxConfigFileBytes/10+1)
	if err := os.WriteFile(p, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Loader{Args: []string{"--config", p}, ReadFile: readFileLimited}.Load()
	if !errors.Is(err, ErrConfigFile) || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Fatalf("unexpected error for an oversized file: %v", err)
	}
	// Just under the limit is read.
	if err := os.WriteFile(p, []byte(big[:maxConfigFileBytes-20]+"\nExtHttpPort: 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Loader{Args: []string{"--config", p}, ReadFile: readFileLimited}.Load()
	if err != nil || o.ExtHttpPort != 7 {
		t.Fatalf("a file within the limit was not read: %v", err)
	}
}
