package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// group orders flags in --help.
type group struct {
	title string
	names []string
}

var groups = []group{
	{"Server", []string{"addr", "base-path", "tls-cert", "tls-key", "cors-origins", "config", "print-config"}},
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
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "YAML config `file` whose keys are these flags' names (heartbeat: 15s); the older 'flag-name: value' lines are still read")
	fs.Bool(flagPrintConfig, false, "print the effective configuration (defaults, file, environment and flags merged; secrets masked) as a config file, and exit")

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
	fmt.Fprint(w, `Usage: tocsin serve [flags]

Every setting may be a flag, its environment variable, or a key of the YAML --config
file (heartbeat: 15s; api-key: [a, b]). Precedence, highest first: flag, environment,
file, default. tocsin serve --print-config shows the merged result.
`)
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
			if name == flagPrintConfig {
				fmt.Fprint(w, " [flag only]\n")
			} else {
				fmt.Fprintf(w, " [$%s]\n", EnvName(name))
			}
		}
	}
}
