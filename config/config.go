// Package config is tocsin serve's one Config: its defaults, its validation, and the
// place where flags, TOCSIN_* environment variables and a config file meet.
// Precedence: flag > environment > config file > default.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/tocsin/tocsin/auth"
)

// Config is everything tocsin serve can be told.
type Config struct {
	Addr    string
	DataDir string
	Store   string // "" → sqlite:<DataDir>/tocsin.db
	Bus     string

	APIKeys      []string
	JWTSecret    string
	JWTPublicKey string // path to a PEM file
	JWTIssuer    string
	JWTAudience  string
	// JWTAllowNoExp accepts user JWTs without exp (they never expire); off by default.
	JWTAllowNoExp bool

	Heartbeat          time.Duration
	Retry              time.Duration
	TrustedUserHeaders []string // exact names, e.g. Member-ID,MemberId
	CORSOrigins        []string
	BasePath           string
	TLSCert, TLSKey    string

	MaxStreamsPerUser int
	MaxStreams        int
	SlotPolicy        string // reject | close-oldest
	QueueSize         int
	InitLimit         int
	WriteTimeout      time.Duration
	ShutdownTimeout   time.Duration

	SQLiteSync     string // full | normal
	Retention      time.Duration
	RetentionDepth int // events kept per stream; 0: no depth limit
	ExpiryInterval time.Duration
	// HeadCheckInterval is how often a node compares the store's heads of its open
	// streams with what it delivered (an event committed but never announced on the
	// bus still arrives); 0: off.
	HeadCheckInterval time.Duration

	Batch time.Duration // default batching window of streams; 0: off

	// Token-bucket rates per second (burst: 2× the rate, at least 1); 0 disables.
	RatePublish float64 // publishes per API key
	RateUser    float64 // inbox requests per user
	RateConnect float64 // new streams per user

	// Limits against one client exhausting the node (limits.go).
	Limits
	// Channels configures the delivery engine (channels.go).
	Channels

	// DevTokens lets POST /api/dev/token mint user tokens (the dashboard's development
	// sign-in). Never in production.
	DevTokens bool

	LogLevel  string
	LogFormat string
	// DebugAddr, when set, serves Go's pprof profiles on that (loopback) address.
	DebugAddr string

	ConfigFile string
}

// Default returns the configuration of a fresh machine.
func Default() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		DataDir:           "tocsin-data",
		Bus:               "memory",
		Heartbeat:         15 * time.Second,
		Retry:             3 * time.Second,
		MaxStreamsPerUser: 10,
		MaxStreams:        100000,
		SlotPolicy:        "reject",
		QueueSize:         256,
		InitLimit:         50,
		WriteTimeout:      10 * time.Second,
		ShutdownTimeout:   10 * time.Second,
		SQLiteSync:        "full",
		Retention:         720 * time.Hour,
		RetentionDepth:    10000,
		ExpiryInterval:    time.Second,
		HeadCheckInterval: 5 * time.Second,
		RatePublish:       10000,
		RateUser:          50,
		RateConnect:       10,
		LogLevel:          "info",
		LogFormat:         "text",
		Limits:            defaultLimits(),
		Channels:          defaultChannels(),
	}
}

// StoreURL is the store to open: --store, or SQLite in the data dir.
func (c *Config) StoreURL() string {
	if c.Store != "" {
		return c.Store
	}
	return "sqlite:" + filepath.Join(c.DataDir, "tocsin.db")
}

// Validate checks every field and names the flag at fault.
func (c *Config) Validate() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flag, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "want host:port, got %q", c.Addr)
	}
	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}
	if s := c.Store; s != "" && !strings.HasPrefix(s, "sqlite:") && !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		bad("store", "want sqlite:<path> or postgres://...")
	} else if s == "sqlite:" {
		bad("store", "sqlite: needs a path")
	}
	if b := c.Bus; b != "memory" && !strings.HasPrefix(b, "redis://") && !strings.HasPrefix(b, "rediss://") && !strings.HasPrefix(b, "nats://") {
		bad("bus", "want memory, redis://... or nats://...")
	}
	for _, k := range c.APIKeys {
		if len(k) < auth.MinAPIKeyLen {
			bad("api-key", "every key must be at least %d characters, and one is %d: %s", auth.MinAPIKeyLen, len(k), auth.APIKeyRemedy)
			break
		}
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < auth.MinJWTSecretBytes {
		bad("jwt-secret", "is %d bytes; an HS256 secret must be at least %d (RFC 7518 §3.2): %s", len(c.JWTSecret), auth.MinJWTSecretBytes, auth.JWTSecretRemedy)
	}
	if c.JWTSecret != "" && c.JWTPublicKey != "" {
		bad("jwt-public-key", "set either --jwt-secret or --jwt-public-key, not both")
	}
	positive := func(flag string, d time.Duration) {
		if d <= 0 {
			bad(flag, "must be a positive duration such as 15s")
		}
	}
	positive("heartbeat", c.Heartbeat)
	positive("retry", c.Retry)
	positive("write-timeout", c.WriteTimeout)
	positive("shutdown-timeout", c.ShutdownTimeout)
	positive("retention", c.Retention)
	positive("expiry-interval", c.ExpiryInterval)
	if c.HeadCheckInterval < 0 {
		bad("head-check-interval", "must be 0 (off) or a positive duration such as 5s")
	}
	if c.RetentionDepth < 0 {
		bad("retention-depth", "must be 0 (no limit) or more")
	}
	if c.Batch < 0 || c.Batch > 10*time.Second {
		bad("batch", "must be between 0 (off) and 10s")
	}
	for flag, r := range map[string]float64{"rate-publish": c.RatePublish, "rate-user": c.RateUser, "rate-connect": c.RateConnect} {
		if r < 0 {
			bad(flag, "must be 0 (no limit) or a positive rate per second")
		}
	}
	c.Limits.validate(bad)
	c.Channels.validate(bad)
	for _, h := range c.TrustedUserHeaders {
		if err := checkTrustedHeader(h); err != "" {
			bad("trusted-user-header", "%q %s", h, err)
		}
	}
	for _, o := range c.CORSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("cors-origins", "%q is not an origin such as https://app.example.com", o)
		}
	}
	if p := c.BasePath; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "?#{} ")) {
		bad("base-path", "want a path such as /notify (leading slash, no trailing slash)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls-cert", "--tls-cert and --tls-key go together")
	}
	atLeast := func(flag string, v, min int) {
		if v < min {
			bad(flag, "must be at least %d", min)
		}
	}
	atLeast("max-streams-per-user", c.MaxStreamsPerUser, 1)
	atLeast("max-streams", c.MaxStreams, 1)
	atLeast("queue-size", c.QueueSize, 8)
	atLeast("init-limit", c.InitLimit, 1)
	if c.InitLimit > 100 {
		bad("init-limit", "must be at most 100")
	}
	oneOf := func(flag, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(flag, "want one of %s, got %q", strings.Join(allowed, ", "), v)
	}
	oneOf("slot-policy", c.SlotPolicy, "reject", "close-oldest")
	oneOf("sqlite-sync", c.SQLiteSync, "full", "normal")
	oneOf("log-level", c.LogLevel, "debug", "info", "warn", "error")
	oneOf("log-format", c.LogFormat, "text", "json")
	if a := c.DebugAddr; a != "" {
		if host, _, err := net.SplitHostPort(a); err != nil || !(host == "localhost" || net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback()) {
			bad("debug-addr", "want a loopback host:port such as 127.0.0.1:6060 (profiles must not be public)")
		}
	}
	return errors.Join(errs...)
}

// checkTrustedHeader says what is wrong with a trusted header's name ("" if nothing).
// Letters, digits and dashes only: an underscore is refused, since some servers and
// proxies treat Member_ID and Member-ID alike, and a gateway that strips one spelling
// from client requests may let the other through. Headers the server or browsers give
// another meaning to are refused too.
func checkTrustedHeader(h string) string {
	if h == "" || len(h) > 64 {
		return "is not a header name (1 to 64 characters)"
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c == '_' {
			return "has an underscore: use dashes (some proxies treat _ and - alike, so a client could send a look-alike)"
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "is not a header name (letters, digits and dashes)"
		}
	}
	switch strings.ToLower(h) {
	case "authorization", "cookie", "host", "origin", "referer", "content-type", "content-length",
		"transfer-encoding", "connection", "upgrade", "last-event-id", "device-id", "idempotency-key",
		"sec-fetch-site", "sec-websocket-key", "sec-websocket-protocol", "user-agent", "accept":
		return "is a header clients set themselves or that tocsin reads for another purpose"
	}
	return ""
}
