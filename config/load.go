package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Flags that are commands of serve rather than settings: no config file or
// environment variable sets them (TOCSIN_CONFIG names the file, see Resolve).
const (
	flagConfig      = "config"
	flagPrintConfig = "print-config"
)

// Resolved is a configuration and how it was arrived at.
type Resolved struct {
	Config
	// Sources says where each setting (by flag name) came from: "default", "file",
	// "env" or "flag".
	Sources map[string]string
	// File is the config file read ("" for none); Legacy is true when it was in the
	// older "flag-name: value" line format rather than YAML.
	File   string
	Legacy bool
	// PrintConfig is --print-config: print the configuration instead of serving.
	PrintConfig bool
	// exposed names the secret settings of File when other users of the machine can
	// read it (nil otherwise): a warning, not a refusal, since a file shared with a
	// service group on purpose is the admin's call.
	exposed []string
}

// Warnings are what the server should log about how its configuration was read.
func (r *Resolved) Warnings() []string {
	var out []string
	if r.Legacy {
		out = append(out, fmt.Sprintf("%s is in the older 'flag-name: value' line format; it still works, but "+
			"tocsin serve --print-config prints it as YAML to save in its place (see docs/configuration.md)", r.File))
	}
	if len(r.exposed) > 0 {
		out = append(out, fmt.Sprintf("%s holds secrets (%s) and other users of this machine can read it: "+
			"chmod 600 it, or give the secrets by environment (see docs/configuration.md)", r.File, strings.Join(r.exposed, ", ")))
	}
	return out
}

// exposedSecrets lists the settings of vals (a config file's) holding a secret when
// the file at path is readable by its group or by everyone. Unix permission bits
// only: Windows has none to read here.
func exposedSecrets(path string, vals map[string]any) []string {
	if runtime.GOOS == "windows" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o044 == 0 {
		return nil
	}
	var out []string
	for _, name := range sortedKeys(vals) {
		v := fmt.Sprint(vals[name])
		if l, ok := vals[name].([]any); ok && len(l) == 0 {
			v = "" // api-key: [] holds none
		}
		if v != "" && (isSecret(name) || isURLFlag(name) && MaskURL(v) != v) {
			out = append(out, name)
		}
	}
	return out
}

// Load builds the configuration from args, the environment (getenv) and the config
// file named by --config or TOCSIN_CONFIG, then validates it. For -h/--help it
// prints the usage to stderr and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string) (Config, error) {
	return LoadTo(args, getenv, os.Stderr)
}

// LoadTo is Load writing the help to w.
func LoadTo(args []string, getenv func(string) string, w io.Writer) (Config, error) {
	r, err := Resolve(args, getenv, w)
	if r == nil {
		return Default(), err
	}
	return r.Config, err
}

// Resolve merges, lowest to highest precedence: the defaults, the config file
// (--config, else TOCSIN_CONFIG), the TOCSIN_* environment and the command-line
// flags; then validates. -h/--help writes the usage to help and returns
// flag.ErrHelp. Every value is parsed by its flag, and a bad one is an error naming
// its source (file and line, variable, or flag), even when a higher layer overrides
// it. On any other error than Validate's the Resolved is nil; on Validate's it is
// complete (for --print-config).
func Resolve(args []string, getenv func(string) string, help io.Writer) (*Resolved, error) {
	r := &Resolved{Config: Default(), Sources: map[string]string{}}
	fs := FlagSet(&r.Config)
	fs.SetOutput(io.Discard)

	// The command line is parsed apart first: it names the file, and its values
	// are the top layer.
	probe := Default()
	pfs := FlagSet(&probe)
	pfs.SetOutput(io.Discard)
	pfs.Usage = func() {}
	if err := pfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			Usage(help, fs)
		}
		return nil, err
	}
	if pfs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", pfs.Arg(0))
	}
	flags := map[string]any{}
	pfs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case flagPrintConfig:
			r.PrintConfig = f.Value.String() == "true"
		case flagConfig:
		default:
			flags[f.Name] = f.Value.String()
		}
	})
	r.File = probe.ConfigFile
	if r.File == "" {
		r.File = getenv(EnvName(flagConfig))
	}
	r.ConfigFile = r.File

	k := koanf.New(".")
	var fileVals map[string]any
	if r.File != "" {
		fp := &fileParser{
			path:   r.File,
			known:  func(name string) bool { return isSetting(fs, name) },
			isList: func(name string) bool { _, ok := fs.Lookup(name).Value.(listValue); return ok },
		}
		if err := k.Load(file.Provider(r.File), fp); err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
				return nil, fmt.Errorf("--config: %w", err)
			}
			return nil, err
		}
		r.Legacy = fp.legacy
		fileVals = k.All()
		if err := checkValues(fileVals, fp.where); err != nil {
			return nil, err
		}
		r.exposed = exposedSecrets(r.File, fileVals)
	}

	env := map[string]any{}
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvName(f.Name)); v != "" && isSetting(fs, f.Name) {
			env[f.Name] = v
		}
	})
	if err := checkValues(env, EnvName); err != nil {
		return nil, err
	}
	for _, layer := range []map[string]any{env, flags} {
		if err := k.Load(confmap.Provider(layer, ""), nil); err != nil {
			return nil, err
		}
	}
	for _, name := range k.Keys() {
		if err := fs.Set(name, k.String(name)); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err) // checked above: cannot happen
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		r.Sources[f.Name] = "default"
		for _, l := range []struct {
			vals map[string]any
			src  string
		}{{fileVals, "file"}, {env, "env"}, {flags, "flag"}} {
			if _, ok := l.vals[f.Name]; ok {
				r.Sources[f.Name] = l.src
			}
		}
	})
	return r, r.Validate()
}

// isSetting says whether name is a flag a file or the environment may set.
func isSetting(fs *flag.FlagSet, name string) bool {
	return name != flagConfig && name != flagPrintConfig && fs.Lookup(name) != nil
}

// checkValues parses each value with its flag on a scratch Config, so that a bad
// value is refused naming where it was written, with the form its flag wants.
func checkValues(vals map[string]any, where func(name string) string) error {
	scratch := Default()
	fs := FlagSet(&scratch)
	var errs []error
	for _, name := range sortedKeys(vals) {
		v := fmt.Sprint(vals[name])
		if err := fs.Set(name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %s", where(name), name, valueError(fs.Lookup(name), v, err)))
		}
	}
	return errors.Join(errs...)
}

// valueError says what form a flag wants: the flag package's own parse errors
// ("parse error") do not.
func valueError(f *flag.Flag, v string, err error) string {
	kind, _ := flag.UnquoteUsage(f)
	if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
		kind = "bool"
	}
	switch kind {
	case "duration":
		return fmt.Sprintf("want a duration such as 15s, 500ms or 2h, got %q", v)
	case "int":
		return fmt.Sprintf("want a whole number, got %q", v)
	case "float":
		return fmt.Sprintf("want a number, got %q", v)
	case "bool":
		return fmt.Sprintf("want true or false, got %q", v)
	}
	return err.Error()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
