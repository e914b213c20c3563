package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultConfigPath is the file 4.0.3 reads on Linux when --config is not
// on the command line and the file exists (spec §1.1).
const DefaultConfigPath = "/etc/eventstore/eventstore.conf"

// maxConfigFileBytes bounds the YAML file we are willing to read; a real
// configuration is a few hundred bytes.
const maxConfigFileBytes = 1 << 20

// Loader reads the options from the three sources. Its fields are the
// seams to the process: tests give fake environments and files.
type Loader struct {
	// Args are the command-line arguments without the program name.
	Args []string
	// Environ lists the environment as KEY=VALUE pairs (os.Environ).
	Environ []string
	// ReadFile reads the YAML file (os.ReadFile).
	ReadFile func(path string) ([]byte, error)
	// DefaultConfigPath is read when --config is absent and it exists;
	// "" disables the default file.
	DefaultConfigPath string
}

// Load reads the options of this process: os.Args[1:], os.Environ, and
// the YAML file named by --config (or DefaultConfigPath on Linux).
func Load(args []string) (*Options, error) {
	l := Loader{Args: args, Environ: os.Environ(), ReadFile: readFileLimited}
	if runtime.GOOS == "linux" {
		l.DefaultConfigPath = DefaultConfigPath
	}
	return l.Load()
}

func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxConfigFileBytes {
		return nil, fmt.Errorf("file is larger than %d bytes", maxConfigFileBytes)
	}
	return b, nil
}

// value is one option value as a source gave it.
type value struct {
	text  string
	items []string // YAML sequence items; nil for scalars
	where string   // "file.yaml:12" for file values, for error messages
}

// Load parses every source, applies the precedence of spec §1.1 and
// returns the options, with each option's source recorded. The returned
// error joins every problem found (each wraps ErrUnknownOption,
// ErrBadValue or ErrConfigFile). Load does not validate the combination
// of values: call Validate.
func (l Loader) Load() (*Options, error) {
	o := Default()
	var errs []error
	var notices []string

	cli, cliNotices, err := parseCommandLine(l.Args)
	notices = append(notices, cliNotices...)
	if err != nil {
		errs = append(errs, err)
	}
	env, envNotices := parseEnviron(l.Environ)
	notices = append(notices, envNotices...)

	// Which file: --config on the command line only. NB: EVENTSTORE_CONFIG
	// and Config: inside a file set the option but load nothing, as in
	// 4.0.3 (spec §1.1).
	var file map[int]value
	cfgIdx := optionIndex["config"]
	path, fromCLI := "", false
	if v, ok := cli[cfgIdx]; ok {
		path, fromCLI = v.text, true
	} else if l.DefaultConfigPath != "" {
		if _, statErr := os.Stat(l.DefaultConfigPath); statErr == nil {
			path = l.DefaultConfigPath
		}
	}
	if path != "" {
		data, err := l.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, newError(ErrConfigFile, "The specified config file %s could not be found", path))
		case err != nil:
			errs = append(errs, newError(ErrConfigFile, "An invalid configuration file has been specified. \n%s: %v", path, err))
		default:
			var ferrs []error
			file, ferrs = parseYAML(path, data)
			errs = append(errs, ferrs...)
			o.configFile = path
			if !fromCLI {
				// The default file shows as the Config value with source
				// <DEFAULT>, as in 4.0.3.
				o.Config = path
			}
		}
	}

	// Apply lowest precedence first so that higher sources overwrite.
	apply := func(vals map[int]value, src Source) {
		idxs := make([]int, 0, len(vals))
		for i := range vals {
			idxs = append(idxs, i)
		}
		sort.Ints(idxs)
		for _, i := range idxs {
			v := vals[i]
			op := &options[i]
			if err := setValue(op, o, v.text, v.items); err != nil {
				at := ""
				if v.where != "" {
					at = v.where + ": "
				}
				errs = append(errs, newError(ErrBadValue, "%s%v (option %s, --%s, from %s)", at, err, op.Name, KebabName(op.Name), src))
				continue
			}
			o.sources[i] = src
		}
	}
	apply(file, SourceFile)
	apply(env, SourceEnv)
	apply(cli, SourceCLI)
	o.notices = notices
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}
	return o, nil
}

// parseCommandLine implements the command-line rules of spec §1.3:
// --name value, --name=value, -PascalName, bare bool flags, a bool flag
// consuming a following true/false/0/1, and trailing +/- signs on bools.
//
// Choices where 4.0.3's parser is not a model: a non-bool option with no
// value is an error naming the option (4.0.3 turns it into "True" and then
// fails conversion); a value token may start with '-' only when it is a
// negative number, so "--commit-count -1" works; a list option given
// twice accumulates its items; other repeats keep the last value.
// Stray tokens are ignored as in 4.0.3 but reported as notices.
func parseCommandLine(args []string) (map[int]value, []string, error) {
	vals := make(map[int]value)
	var notices []string
	var errs []error
	for i := 0; i < len(args); i++ {
		tok := args[i]
		body := strings.TrimLeft(tok, "-")
		if !strings.HasPrefix(tok, "-") || body == "" {
			notices = append(notices, fmt.Sprintf("ignoring command-line argument %q: it is not an option", tok))
			continue
		}
		name, text, hasValue := strings.Cut(body, "=")
		// A trailing sign sets a bool directly (--mem-db+, --mem-db-).
		// Check before normalizing, which deletes the '-'.
		if !hasValue && len(name) > 1 && (name[len(name)-1] == '+' || name[len(name)-1] == '-') {
			if idx, ok := optionIndex[normalizeName(name[:len(name)-1])]; ok && options[idx].Kind == kindBool {
				vals[idx] = value{text: map[bool]string{true: "true", false: "false"}[name[len(name)-1] == '+']}
				continue
			}
		}
		idx, ok := optionIndex[normalizeName(name)]
		if !ok {
			errs = append(errs, unknownOption(normalizeName(name)))
			if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++ // skip its probable value, so it is not reported as stray too
			}
			continue
		}
		op := &options[idx]
		if !hasValue {
			if op.Kind == kindBool {
				text = "true"
				if i+1 < len(args) && isBoolLiteral(args[i+1]) {
					i++
					text = args[i]
				}
			} else {
				if i+1 >= len(args) || (strings.HasPrefix(args[i+1], "-") && !isNegativeNumber(args[i+1])) {
					errs = append(errs, newError(ErrBadValue, "The option %s requires a value of type %s (--%s <value> or --%s=<value>)",
						normalizeName(name), op.Kind.typeName(), KebabName(op.Name), KebabName(op.Name)))
					continue
				}
				i++
				text = args[i]
			}
		}
		if prev, dup := vals[idx]; dup && (op.Kind == kindStrings || op.Kind == kindEndpoints) && prev.text != "" {
			text = prev.text + "," + text
		}
		vals[idx] = value{text: text}
	}
	return vals, notices, errors.Join(errs...)
}

func isBoolLiteral(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "0", "1":
		return true
	}
	return false
}

func isNegativeNumber(s string) bool {
	return len(s) > 1 && s[0] == '-' && s[1] >= '0' && s[1] <= '9'
}

// unknownOption builds 4.0.3's error (spec §1.5) plus a hint: the real
// advertise options for --advertise-as (§1.7, §1.9), else the closest
// known option.
func unknownOption(norm string) *Error {
	msg := fmt.Sprintf("The option %s is not a known option", norm)
	if hint, ok := laterOptionHints[norm]; ok {
		msg += "\n" + hint
	} else if s := suggest(norm); s != "" {
		msg += fmt.Sprintf(" (did you mean --%s?)", s)
	}
	return newError(ErrUnknownOption, "%s", msg)
}

// laterOptionHints answers the options people try that Event Store 4.0.x
// never had (spec §1.7) with what to use instead.
var laterOptionHints = map[string]string{
	"advertiseas":             "Event Store 4.0.x has no --advertise-as; use --ext-ip-advertise-as and/or --int-ip-advertise-as (and the --*-port-advertise-as family)",
	"loglevel":                "Event Store 4.0.x has no --log-level; this server logs at info level to stderr (and to --log <dir> when given)",
	"chunksize":               "Event Store 4.0.x has no --chunk-size; chunks hold 256 MiB of data",
	"httpport":                "--http-port is a 3.x single-node option; use --ext-http-port",
	"tcpport":                 "--tcp-port is a 3.x single-node option; use --ext-tcp-port",
	"ip":                      "--ip is a 3.x single-node option; use --ext-ip (and --int-ip in a cluster)",
	"insecure":                "--insecure is an option of 20.x and later; Event Store 4.0.x has no TLS by default, so nothing is needed",
	"enableexternaltcp":       "--enable-external-tcp is an option of 20.x and later; external TCP is always on in 4.0.x",
	"advertisehosttoclientas": "--advertise-host-to-client-as is an option of 20.x and later; use --ext-ip-advertise-as",
	"nodeip":                  "--node-ip is an option of 20.x and later; use --ext-ip and --int-ip",
	"skipindexverify":         "--skip-index-verify arrived in 4.1.0",
	"chunkinitialreadercount": "--chunk-initial-reader-count arrived in 4.1.0",
	"projectionsqueryexpiry":  "--projections-query-expiry arrived in 4.1.0",
	"structuredlog":           "--structured-log arrived in 5.0",
	"maxautomergeindexlevel":  "--max-auto-merge-index-level arrived in 5.0",
	"initializationthreads":   "--initialization-threads arrived in 5.0",
}

// parseEnviron picks EVENTSTORE_<NAME> for every known option; an empty
// value counts as absent (spec §1.1). Unknown EVENTSTORE_* variables are
// ignored as in 4.0.3, but reported as notices because they usually are
// typos or options of later versions.
func parseEnviron(environ []string) (map[int]value, []string) {
	known := make(map[string]int, len(options))
	for i, op := range options {
		known[EnvName(op.Name)] = i
	}
	vals := make(map[int]value)
	var notices []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, envPrefix) {
			continue
		}
		idx, ok := known[k]
		if !ok {
			notices = append(notices, fmt.Sprintf("ignoring environment variable %s: it is not an Event Store 4.0.x option", k))
			continue
		}
		if v == "" {
			continue
		}
		vals[idx] = value{text: v}
	}
	return vals, notices
}

// parseYAML reads a config file (spec §1.4): a mapping of option name to a
// scalar or a sequence of scalars; mapping values are ignored. Unknown
// keys, duplicate keys, other shapes and syntax errors are errors naming
// the file and line.
func parseYAML(path string, data []byte) (map[int]value, []error) {
	vals := make(map[int]value)
	lines := make(map[int]int)
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, newError(ErrConfigFile, "An invalid configuration file has been specified. \n%s:%d: %s", path, line, fmt.Sprintf(format, args...)))
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	seenDoc := false
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// yaml.v3 messages read "yaml: line N: ..."; print them as
			// "file:N: ..." like every other file error.
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			if rest, ok := strings.CutPrefix(msg, "line "); ok {
				if n, tail, ok := strings.Cut(rest, ": "); ok {
					errs = append(errs, newError(ErrConfigFile, "An invalid configuration file has been specified. \n%s:%s: %s", path, n, tail))
					break
				}
			}
			errs = append(errs, newError(ErrConfigFile, "An invalid configuration file has been specified. \n%s: %s", path, msg))
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document, e.g. after the closing "---"
		}
		if seenDoc {
			fail(root.Line, "only one YAML document is allowed")
			break
		}
		seenDoc = true
		if root.Kind != yaml.MappingNode {
			fail(root.Line, "the document must be a mapping of option names to values")
			break
		}
		for j := 0; j+1 < len(root.Content); j += 2 {
			k, v := root.Content[j], root.Content[j+1]
			if v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			if k.Kind != yaml.ScalarNode {
				fail(k.Line, "option names must be plain text")
				continue
			}
			if v.Kind == yaml.MappingNode {
				continue // plugin sections; ignored as in 4.0.3 (spec §1.4)
			}
			idx, ok := optionIndex[normalizeName(k.Value)]
			if !ok {
				fail(k.Line, "%s", unknownOption(normalizeName(k.Value)).Error())
				continue
			}
			if first, dup := lines[idx]; dup {
				fail(k.Line, "option %s is set twice (first on line %d)", options[idx].Name, first)
				continue
			}
			lines[idx] = k.Line
			where := fmt.Sprintf("%s:%d", path, k.Line)
			switch v.Kind {
			case yaml.ScalarNode:
				if v.Tag == "!!null" {
					continue // "Key:" with nothing after it: not set
				}
				vals[idx] = value{text: v.Value, where: where}
			case yaml.SequenceNode:
				items := make([]string, 0, len(v.Content))
				for _, it := range v.Content {
					if it.Kind != yaml.ScalarNode {
						fail(it.Line, "items of %s must be plain values", options[idx].Name)
						continue
					}
					items = append(items, it.Value)
				}
				if options[idx].Kind != kindStrings && options[idx].Kind != kindEndpoints {
					// A scalar option given as a sequence: 4.0.3 joins
					// nothing; report it as a bad value.
					fail(v.Line, "option %s takes a single value, not a list", options[idx].Name)
					continue
				}
				vals[idx] = value{items: items, text: strings.Join(items, ","), where: where}
			default:
				fail(v.Line, "option %s has a value of an unsupported shape", options[idx].Name)
			}
		}
	}
	return vals, errs
}

// Notices returns non-fatal remarks made while loading (ignored arguments,
// unknown EVENTSTORE_* variables) for the caller to log.
func (o *Options) Notices() []string { return o.notices }
