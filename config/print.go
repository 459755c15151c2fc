package config

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Masked stands for a secret in --print-config's output. It fails validation
// wherever it lands (too short for a key or secret, not a VAPID key; a URL password
// that is wrong), so a printed file used without putting the secrets back refuses
// to start or to connect rather than running with a guessable secret.
const Masked = "***"

// secretFlags are the flags whose whole value is a secret.
var secretFlags = []string{"api-key", "jwt-secret", "unsubscribe-secret", "vapid-private-key"}

// urlFlags are the flags holding a URL that may carry a password (user:pass@, or
// a query parameter such as ?password=).
var urlFlags = []string{"store", "bus", "smtp-url", "public-url"}

// secretParams are query parameters of a URL that hold a secret (PostgreSQL's
// password and sslpassword, Redis's password, a token).
var secretParams = []string{"password", "sslpassword", "pass", "secret", "token"}

// WriteYAML writes the configuration as a YAML config file: every setting in
// --help's order, each with a comment saying where it came from, and the secrets
// masked.
func (r *Resolved) WriteYAML(w io.Writer) error {
	var b strings.Builder
	file := ""
	if r.File != "" {
		file = " " + r.File
	}
	fmt.Fprintf(&b, "# tocsin serve --print-config: the effective configuration. Merged from the defaults,\n"+
		"# the config file%s, TOCSIN_* variables and flags, each overriding the ones before.\n", file)
	b.WriteString("# It is itself a config file (tocsin serve --config FILE), except that secrets are\n")
	fmt.Fprintf(&b, "# masked as %q: put them back, or set them by environment, before using it.\n", Masked)
	if r.Legacy {
		fmt.Fprintf(&b, "# %s is in the older line format: this YAML may replace it.\n", r.File)
	}
	fs := FlagSet(&r.Config)
	for _, g := range groups {
		fmt.Fprintf(&b, "\n# %s\n", g.title)
		for _, name := range g.names {
			f := fs.Lookup(name)
			if f == nil || !isSetting(fs, name) {
				continue
			}
			val, masked := r.yamlValue(f)
			fmt.Fprintf(&b, "%s: %s  # %s", name, val, r.source(name))
			if masked {
				b.WriteString(", masked")
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Resolved) source(name string) string {
	switch s := r.Sources[name]; s {
	case "file":
		return "from " + r.File
	case "env":
		return "from env " + EnvName(name)
	case "flag":
		return "from flag --" + name
	default:
		return s
	}
}

// yamlValue is a flag's value in YAML, masked if secret: a flow list for list
// flags, else a scalar quoted as YAML needs it.
func (r *Resolved) yamlValue(f *flag.Flag) (string, bool) {
	masked := false
	if l, ok := f.Value.(listValue); ok {
		items := make([]string, len(*l.p))
		for i, it := range *l.p {
			if isSecret(f.Name) {
				it, masked = Masked, true
			}
			items[i] = yamlScalar(it)
		}
		return "[" + strings.Join(items, ", ") + "]", masked
	}
	v := f.Value.String()
	switch {
	case v == "":
	case isSecret(f.Name):
		v, masked = Masked, true
	case isURLFlag(f.Name):
		m := MaskURL(v)
		v, masked = m, m != v
	}
	return yamlScalar(v), masked
}

func isSecret(name string) bool  { return contains(secretFlags, name) }
func isURLFlag(name string) bool { return contains(urlFlags, name) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// yamlScalar quotes s as YAML needs (a plain scalar when it can be one), on one
// line so that the source comment can follow it.
func yamlScalar(s string) string {
	if s == "" {
		return `""`
	}
	// Plain when YAML allows it: the file parser keeps a scalar's text (10000, false,
	// 0123 all stay as written), except a plain null, so that one is quoted.
	n := yaml.Node{Kind: yaml.ScalarNode, Value: s}
	switch {
	case strings.ContainsAny(s, "\n\r"):
		n.Style = yaml.DoubleQuotedStyle
	case s == "~" || strings.EqualFold(s, "null"):
		n.Style = yaml.SingleQuotedStyle
	}
	out, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// MaskURL replaces the secrets of a URL with Masked: the password (user:pass@), a
// user name standing alone (NATS and Redis take a token there), and secret query
// parameters. What cannot be parsed as a URL is masked whole.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || strings.Contains(u.Opaque, "@"):
		return Masked
	case u.Scheme == "":
		return raw // not a URL: memory
	}
	changed := false
	if u.User != nil {
		if _, hasPass := u.User.Password(); hasPass {
			u.User = url.UserPassword(u.User.Username(), Masked)
		} else {
			u.User = url.User(Masked)
		}
		changed = true
	}
	if q := u.Query(); u.RawQuery != "" {
		for name := range q {
			if contains(secretParams, strings.ToLower(name)) {
				q[name] = []string{Masked}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return raw
	}
	// url escapes '*' (%2A); the mask reads better unescaped.
	return strings.ReplaceAll(u.String(), "%2A%2A%2A", Masked)
}
