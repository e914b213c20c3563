package config

import (
	"fmt"
	"io"
	"strings"
)

// WriteUsage writes the --help text: every option grouped as in Event
// Store's documentation, with its value type, default and environment
// variable. Options this project adds are marked [eventstored].
func WriteUsage(w io.Writer, program string) {
	fmt.Fprintf(w, "Usage: %s [options]\n\n", program)
	fmt.Fprintf(w, "Every option can be given on the command line (--ext-http-port 2113, --ext-http-port=2113,\n"+
		"-ExtHttpPort 2113; a bare bool flag means true), as an environment variable (EVENTSTORE_EXT_HTTP_PORT)\n"+
		"or as a key of the YAML file named by --config (ExtHttpPort: 2113). Precedence: command line >\n"+
		"environment > config file > default. --what-if prints the effective values and their sources.\n\n")
	fmt.Fprintf(w, "Options:\n")
	for _, g := range groupOrder {
		fmt.Fprintf(w, "\n%s OPTIONS\n", strings.ToUpper(string(g)))
		for i := range options {
			op := &options[i]
			if op.Group != g {
				continue
			}
			flag := "--" + KebabName(op.Name)
			if op.Kind != kindBool {
				flag += " <" + placeholder(op.Kind) + ">"
			}
			def := op.Default
			if def == "" {
				def = "<empty>"
			}
			desc := op.Description
			if op.Ours {
				desc = "[eventstored] " + desc
			}
			fmt.Fprintf(w, "  %s\n", flag)
			for _, l := range wrap(desc+" Default: "+def+". Env: "+EnvName(op.Name)+".", 92) {
				fmt.Fprintf(w, "        %s\n", l)
			}
		}
	}
}

func placeholder(k kind) string {
	switch k {
	case kindInt, kindInt64:
		return "int"
	case kindMs:
		return "ms"
	case kindDoubleMs:
		return "ms (decimal)"
	case kindSec:
		return "seconds"
	case kindDays:
		return "days"
	case kindString:
		return "text"
	case kindStrings:
		return "text,text,..."
	case kindIP:
		return "ip"
	case kindEndpoints:
		return "ip:port,ip:port,..."
	case kindProjection:
		return "None|System|All"
	}
	return "value"
}

// WriteEffective writes the effective configuration as 4.0.3 logs it
// (spec §1.6): MODIFIED OPTIONS (every option not at its default source),
// then DEFAULT OPTIONS; one line per option with the upper-case name, the
// value (<empty> when empty, lists as [ a, b ]) and the source in
// parentheses. Secret values are blanked.
func (o *Options) WriteEffective(w io.Writer) {
	line := func(i int) {
		op := &options[i]
		fmt.Fprintf(w, "\t%-45s %s (%s)\n", dumpName(op.Name)+":", o.dumpValue(op), o.sources[i])
	}
	fmt.Fprintf(w, "MODIFIED OPTIONS:\n\n")
	for i := range options {
		if o.sources[i] != SourceDefault {
			line(i)
		}
	}
	fmt.Fprintf(w, "\nDEFAULT OPTIONS:\n\n")
	for i := range options {
		if o.sources[i] == SourceDefault {
			line(i)
		}
	}
}

func (o *Options) dumpValue(op *option) string {
	if op.Secret {
		return "****"
	}
	v := formatValue(op, o)
	switch {
	case op.Kind == kindStrings || op.Kind == kindEndpoints:
		if v == "" {
			return "<empty>"
		}
		return "[ " + strings.ReplaceAll(v, ",", ", ") + " ]"
	case op.Kind == kindBool:
		// .NET prints True/False; keep the dump looking like 4.0.3's.
		if v == "true" {
			return "True"
		}
		return "False"
	case v == "":
		return "<empty>"
	}
	return v
}

// OptionInfo is one element of GET /info/options (spec http-api §4.2).
type OptionInfo struct {
	Name           string   `json:"name"`
	Description    string   `json:"description"`
	Group          string   `json:"group"`
	Value          string   `json:"value"`
	PossibleValues []string `json:"possibleValues,omitempty"`
}

// Info returns the option list served at /info/options: list values
// concatenated without separator and CertificatePassword blank, as 4.0.3
// does (quirks kept on purpose, spec http-api §4.2).
func (o *Options) Info() []OptionInfo {
	out := make([]OptionInfo, 0, len(options))
	for i := range options {
		op := &options[i]
		v := formatValue(op, o)
		if op.Kind == kindStrings || op.Kind == kindEndpoints {
			v = strings.ReplaceAll(v, ",", "")
		}
		if op.Secret {
			v = ""
		}
		info := OptionInfo{Name: op.Name, Description: op.Description, Group: string(op.Group), Value: v}
		if op.Kind == kindProjection {
			info.PossibleValues = []string{"None", "System", "All"}
		}
		out = append(out, info)
	}
	return out
}

// wrap breaks text into lines of at most width bytes at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
