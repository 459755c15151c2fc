package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileParser is the koanf.Parser of the --config file: a flat YAML mapping whose
// keys are the flag names (heartbeat: 15s, api-key: [a, b]). It also reads the
// older "flag-name: value" line format, for the files that are not YAML (a value
// starting with * or holding ": ", or "name = value" lines).
//
// Scalars are kept as the text the operator wrote, never as YAML numbers: an
// all-digit API key of 20 digits would otherwise come back as a rounded float. Every
// value is then parsed by its flag, as on the command line.
type fileParser struct {
	path   string
	known  func(name string) bool // a flag the file may set
	isList func(name string) bool // a comma-separated list flag

	legacy bool           // the file was read in the old line format
	lines  map[string]int // line of each key, for error messages
}

// Unmarshal returns the file's settings as flag name → value text (lists joined by
// commas, as on the command line).
func (p *fileParser) Unmarshal(b []byte) (map[string]any, error) {
	p.lines = map[string]int{}
	var doc yaml.Node
	yerr := yaml.Unmarshal(b, &doc)
	if yerr == nil && len(doc.Content) == 0 {
		return map[string]any{}, nil // empty, or only comments
	}
	if yerr == nil && doc.Content[0].Kind == yaml.MappingNode {
		return p.mapping(doc.Content[0])
	}
	out, lerr := p.oldFormat(b)
	if lerr == nil {
		p.legacy = true
		return out, nil
	}
	if yerr == nil {
		yerr = errors.New("not a mapping of flag names to values")
	}
	return nil, fmt.Errorf("%s: neither YAML (%v) nor the older 'flag-name: value' lines (%v)", p.path, yerr, lerr)
}

// Marshal is not used: --print-config writes its own annotated YAML (print.go).
func (p *fileParser) Marshal(map[string]any) ([]byte, error) {
	return nil, errors.New("config: the file parser does not write")
}

func (p *fileParser) mapping(m *yaml.Node) (map[string]any, error) {
	out := map[string]any{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s:%d: a key must be a flag name", p.path, k.Line)
		}
		name := k.Value
		if err := p.check(name); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", p.path, k.Line, err)
		}
		if prev, dup := p.lines[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is set twice (lines %d and %d)", p.path, k.Line, name, prev, k.Line)
		}
		p.lines[name] = k.Line
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				out[name] = "" // "tls-cert:" with nothing after it: empty, as in the old format
			} else {
				out[name] = v.Value
			}
		case yaml.SequenceNode:
			if !p.isList(name) {
				return nil, fmt.Errorf("%s:%d: %s: want a single value, not a list", p.path, k.Line, name)
			}
			items := make([]string, 0, len(v.Content))
			for _, it := range v.Content {
				if it.Kind == yaml.AliasNode {
					it = it.Alias
				}
				if it.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s:%d: %s: want a list of values, not of lists or sections", p.path, it.Line, name)
				}
				if strings.Contains(it.Value, ",") {
					return nil, fmt.Errorf("%s:%d: %s: a list item cannot contain a comma: %q", p.path, it.Line, name, it.Value)
				}
				items = append(items, it.Value)
			}
			out[name] = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("%s:%d: %s: want a value, not a section (keys are flag names at the top level, e.g. heartbeat: 15s)", p.path, k.Line, name)
		}
	}
	return out, nil
}

// check refuses a key that is no setting: a typo must not be ignored silently.
func (p *fileParser) check(name string) error {
	switch {
	case name == "config":
		return errors.New("a config file cannot name another one (config)")
	case !p.known(name):
		return fmt.Errorf("unknown setting %q (the keys are the flag names of tocsin serve --help, without the dashes)", name)
	}
	return nil
}

// oldFormat reads the format of tocsin before YAML: one "flag-name: value" (or
// "flag-name = value") per line, '#' comment lines, blank lines, a value optionally
// in matching quotes taken literally (no escapes, no trailing comments).
func (p *fileParser) oldFormat(b []byte) (map[string]any, error) {
	out := map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, value, ok := strings.Cut(text, ":")
		if !ok {
			key, value, ok = strings.Cut(text, "=")
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !ok || key == "" {
			return nil, fmt.Errorf("line %d: want 'name: value'", line)
		}
		if n := len(value); n >= 2 && (value[0] == '"' && value[n-1] == '"' || value[0] == '\'' && value[n-1] == '\'') {
			value = value[1 : n-1]
		}
		if err := p.check(key); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		p.lines[key] = line
		out[key] = value
	}
	return out, sc.Err()
}

// where names a key's place in the file for an error message.
func (p *fileParser) where(name string) string {
	if n, ok := p.lines[name]; ok {
		return fmt.Sprintf("%s:%d", p.path, n)
	}
	return p.path
}
