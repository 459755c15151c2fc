package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// group orders flags in --help.
type group struct {
	title string
	names []string
}

var groups = []group{
	{"Server", []string{"addr", "base-path", "tls-cert", "tls-key", "cors-origins", "config"}},
	{"Storage and cluster", []string{"data-dir", "store", "bus", "sqlite-sync", "retention", "retention-depth", "expiry-interval", "head-check-interval"}},
	{"Authentication", []string{"api-key", "jwt-secret", "jwt-public-key", "jwt-issuer", "jwt-audience", "jwt-allow-no-exp", "trusted-user-header", "dev-tokens"}},
	{"Streams", []string{"heartbeat", "retry", "max-streams-per-user", "max-streams", "slot-policy", "queue-size", "init-limit", "batch", "write-timeout", "shutdown-timeout"}},
	{"Rate limits (token buckets; burst is twice the rate; 0 disables)", []string{"rate-publish", "rate-user", "rate-connect", "rate-user-publish", "rate-hook"}},
	{"Limits per client, token and request", limitFlags},
	{"Channels: escalation, email, webhooks", channelFlags},
	{"Logging and debugging", []string{"log-level", "log-format", "debug-addr"}},
}

// EnvName is the environment variable of a flag: --max-streams-per-user is
// TOCSIN_MAX_STREAMS_PER_USER.
func EnvName(flagName string) string {
	return "TOCSIN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// listValue is a comma-separated list flag.
type listValue struct{ p *[]string }

func (l listValue) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listValue) Set(s string) error {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	*l.p = out
	return nil
}

// FlagSet returns the serve flags bound to c (whose values are the defaults shown).
func FlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", c.Addr, "address to listen on, host:port")
	fs.StringVar(&c.BasePath, "base-path", c.BasePath, "mount every route under this prefix, e.g. /notify, for reverse proxies")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate file (PEM): serve HTTPS with HTTP/2")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key file (PEM), with --tls-cert")
	fs.Var(listValue{&c.CORSOrigins}, "cors-origins", "comma-separated origins whose pages may call with credentials (cookie included); * lets any page call with a bearer token only, never the cookie; default same origin only")
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "config file of 'flag-name: value' lines")

	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the SQLite store and generated secrets (owner-only files); one server at a time (it holds <data-dir>/tocsin.lock)")
	fs.StringVar(&c.Store, "store", c.Store, "store: sqlite:<path> (default sqlite:<data-dir>/tocsin.db) or postgres://...")
	fs.StringVar(&c.Bus, "bus", c.Bus, "bus between nodes: memory, redis://... or nats://...")
	fs.StringVar(&c.SQLiteSync, "sqlite-sync", c.SQLiteSync, "SQLite durability: full (fsync every commit; survives power loss) or normal (survives a crash)")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "how long notifications and events are kept")
	fs.IntVar(&c.RetentionDepth, "retention-depth", c.RetentionDepth, "events kept per stream for resume; 0 for no limit")
	fs.DurationVar(&c.ExpiryInterval, "expiry-interval", c.ExpiryInterval, "how often expired notifications are removed (emitting notification:deleted)")
	fs.DurationVar(&c.HeadCheckInterval, "head-check-interval", c.HeadCheckInterval, "how often a node compares the store's heads of its open streams with what it delivered, so an event committed but never announced on the bus still arrives; 0 is off")

	fs.Var(listValue{&c.APIKeys}, "api-key", "comma-separated API keys for the application's backend; default one generated in the data dir")
	fs.StringVar(&c.JWTSecret, "jwt-secret", c.JWTSecret, "HS256 secret verifying user JWTs; default one generated in the data dir")
	fs.StringVar(&c.JWTPublicKey, "jwt-public-key", c.JWTPublicKey, "PEM file of an RSA (RS256) or ECDSA P-256 (ES256) public key verifying user JWTs")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", c.JWTIssuer, "required iss claim of user JWTs, when set")
	fs.StringVar(&c.JWTAudience, "jwt-audience", c.JWTAudience, "required aud claim of user JWTs, when set")
	fs.BoolVar(&c.JWTAllowNoExp, "jwt-allow-no-exp", c.JWTAllowNoExp, "accept user JWTs without an exp claim (they never expire, and their streams never end); by default they are refused with 401")
	fs.BoolVar(&c.DevTokens, "dev-tokens", c.DevTokens, "let anyone mint user tokens at POST /api/dev/token, for the dashboard's development sign-in (never in production)")
	fs.Var(listValue{&c.TrustedUserHeaders}, "trusted-user-header", "comma-separated exact header names a trusted gateway sets to the user's id (e.g. Member-ID,MemberId); no other spelling is trusted; the gateway must strip them from client requests; off when empty")

	fs.DurationVar(&c.Heartbeat, "heartbeat", c.Heartbeat, "idle time after which a stream gets a heartbeat comment")
	fs.DurationVar(&c.Retry, "retry", c.Retry, "reconnection delay hinted to SSE clients (retry:)")
	fs.IntVar(&c.MaxStreamsPerUser, "max-streams-per-user", c.MaxStreamsPerUser, "open streams one user may hold")
	fs.IntVar(&c.MaxStreams, "max-streams", c.MaxStreams, "open streams this node holds")
	fs.StringVar(&c.SlotPolicy, "slot-policy", c.SlotPolicy, "past --max-streams-per-user: reject (429) or close-oldest")
	fs.IntVar(&c.QueueSize, "queue-size", c.QueueSize, "events a stream may have waiting before it is disconnected as too slow")
	fs.IntVar(&c.InitLimit, "init-limit", c.InitLimit, "unread notifications in a stream's init event (1-100)")
	fs.DurationVar(&c.Batch, "batch", c.Batch, "default batching window of streams (e.g. 200ms), overridable by ?batch=; 0 is off")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "deadline of each write to a stream")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long a graceful shutdown waits for in-flight requests")

	fs.Float64Var(&c.RatePublish, "rate-publish", c.RatePublish, "publish requests per second per API key")
	fs.Float64Var(&c.RateUser, "rate-user", c.RateUser, "inbox requests per second per user")
	fs.Float64Var(&c.RateConnect, "rate-connect", c.RateConnect, "new streams per second per user")

	c.Limits.addFlags(fs)
	c.Channels.addFlags(fs)

	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.StringVar(&c.DebugAddr, "debug-addr", c.DebugAddr, "serve Go's pprof profiles (/debug/pprof/) on this loopback address; off when empty")
	return fs
}

// Usage writes the serve help: every flag, its default and its environment variable.
func Usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "Usage: tocsin serve [flags]\n\nEvery flag may also be set by its environment variable, or in the --config file\n(precedence: flag, environment, file, default).\n")
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.names {
			f := fs.Lookup(name)
			if f == nil {
				continue
			}
			arg, usage := flag.UnquoteUsage(f)
			if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool {
				arg = ""
			} else if arg == "value" {
				arg = "list"
			}
			fmt.Fprintf(w, "  --%s %s\n      %s", name, arg, usage)
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintf(w, " [$%s]\n", EnvName(name))
		}
	}
}

// Load builds the configuration from args, the environment (getenv) and the config
// file named by --config or TOCSIN_CONFIG, then validates it. For -h/--help it
// prints the usage to stderr and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string) (Config, error) {
	return LoadTo(args, getenv, os.Stderr)
}

// LoadTo is Load writing help and flag errors to w.
func LoadTo(args []string, getenv func(string) string, w io.Writer) (Config, error) {
	c := Default()
	fs := FlagSet(&c)
	fs.SetOutput(w)
	fs.Usage = func() { Usage(w, fs) }

	// A first pass over the flags only finds --config (and help and syntax errors).
	probe := Default()
	pfs := FlagSet(&probe)
	pfs.SetOutput(io.Discard)
	pfs.Usage = func() {}
	if err := pfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			Usage(w, fs)
			return c, flag.ErrHelp
		}
		return c, err
	}
	if pfs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", pfs.Arg(0))
	}
	file := probe.ConfigFile
	if file == "" {
		file = getenv(EnvName("config"))
	}
	if file != "" {
		if err := applyFile(fs, file); err != nil {
			return c, err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvName(f.Name)); v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s: %v", EnvName(f.Name), err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// applyFile sets flags from a file of "flag-name: value" lines ('#' comments, blank
// lines, optionally quoted values). An unknown name is an error naming its line.
func applyFile(fs *flag.FlagSet, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
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
			return fmt.Errorf("%s:%d: want 'name: value'", path, line)
		}
		if n := len(value); n >= 2 && (value[0] == '"' && value[n-1] == '"' || value[0] == '\'' && value[n-1] == '\'') {
			value = value[1 : n-1]
		}
		if key == "config" || fs.Lookup(key) == nil {
			return fmt.Errorf("%s:%d: unknown setting %q", path, line, key)
		}
		if err := fs.Set(key, value); err != nil {
			return fmt.Errorf("%s:%d: %s: %v", path, line, key, err)
		}
	}
	return sc.Err()
}
