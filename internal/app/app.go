// Package app wires one tocsin node from its configuration: the store, the bus, the
// hub, the auth and the HTTP handler. It is cmd/tocsin's wiring, kept importable so
// end-to-end tests run the very same node in-process.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/config"
	"github.com/tocsin/tocsin/delivery"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/internal/clientip"
	"github.com/tocsin/tocsin/membus"
	"github.com/tocsin/tocsin/metrics"
	"github.com/tocsin/tocsin/natsbus"
	"github.com/tocsin/tocsin/postgres"
	"github.com/tocsin/tocsin/redisbus"
	"github.com/tocsin/tocsin/sqlite"
	"github.com/tocsin/tocsin/webpush"
)

// Version is set at build time (-ldflags "-X github.com/tocsin/tocsin/internal/app.Version=...").
var Version = "dev"

// App is one running node.
type App struct {
	cfg    config.Config
	log    *slog.Logger
	store  tocsin.Store
	bus    tocsin.Bus
	hub    *hub.Hub
	engine *delivery.Engine
	push   *webpush.Sender // Web Push (its public key for the API)
	// pushRead checks the read tickets of pushed notifications (channels.go).
	pushRead func(ticket, id string) (userID string, err error)
	handler  *httpapi.Server
	proxies  clientip.Proxies

	srvMu   sync.Mutex
	srv     *http.Server
	stopped bool // Shutdown ran: a later Serve returns at once

	locks     []*os.File // the data dir's lock (datadir.go), held until Close
	closeOnce sync.Once

	// now is the node's one clock, handed to the store, the hub and the handler.
	now func() time.Time
}

// New opens the store and bus and builds the handler. Close releases them.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	a := &App{cfg: cfg, log: log, now: time.Now}
	locks, err := lockDataDir(viewOf(cfg))
	if err != nil {
		return nil, err
	}
	a.locks = locks
	ok := false
	defer func() {
		if !ok {
			a.Close()
		}
	}()
	if err := a.ensureSecrets(); err != nil {
		return nil, err
	}
	store, err := openStoreClock(ctx, a.cfg, log, a.now)
	if err != nil {
		return nil, err
	}
	a.store = store
	authn, err := newAuthenticator(a.cfg, a.now, storedKeyLookup(store))
	if err != nil {
		return nil, err
	}
	bus, err := openBus(ctx, a.cfg, log)
	if err != nil {
		return nil, err
	}
	a.bus = bus
	m := metrics.New()
	a.hub = hub.New(hub.Config{
		Store: store, Bus: bus, Logger: log, Observer: m,
		Heartbeat: a.cfg.Heartbeat, QueueSize: a.cfg.QueueSize, InitLimit: a.cfg.InitLimit,
		MaxStreamsPerUser: a.cfg.MaxStreamsPerUser, MaxStreams: a.cfg.MaxStreams,
		MaxStreamsPerToken: a.cfg.MaxStreamsPerToken.Of(a.cfg.MaxStreams),
		MaxStreamsPerAddr:  a.cfg.MaxStreamsPerIP.Of(a.cfg.MaxStreams),
		CloseOldest:        a.cfg.SlotPolicy == "close-oldest",
		ExpiryInterval:     a.cfg.ExpiryInterval, Retention: a.cfg.Retention,
		RetentionDepth: noLimitIfZero(a.cfg.RetentionDepth),
		HeadCheck:      offIfZero(a.cfg.HeadCheckInterval),
		Now:            a.now,
		// Every committed change, for the webhook outbox; a.engine is set below,
		// before Start runs anything that commits.
		Committed: func(evs []tocsin.Event) { a.engine.Committed(evs) },
	})
	engine, unsubscribe, err := a.newEngine(m, a.hub)
	if err != nil {
		return nil, err
	}
	a.engine = engine
	if err := a.hub.Start(ctx); err != nil {
		return nil, fmt.Errorf("start bus: %w", err)
	}
	proxies, err := clientip.ParseProxies(a.cfg.TrustedProxies)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	a.proxies = proxies
	a.handler = httpapi.New(httpapi.Config{
		Hub: a.hub, Store: store, Auth: authn, Logger: log,
		Gatherer: m.Registry, HTTPRequests: m.HTTPRequests, Ready: a.ready,
		Retry: a.cfg.Retry, WriteTimeout: a.cfg.WriteTimeout,
		CORSOrigins: a.cfg.CORSOrigins, BasePath: a.cfg.BasePath, Version: Version,
		TrustedUserHeaders: a.cfg.TrustedUserHeaders, Batch: a.cfg.Batch,
		Totals:      m.Totals,
		RatePublish: a.cfg.RatePublish, RateUser: a.cfg.RateUser, RateConnect: a.cfg.RateConnect,
		DevToken:        a.devToken(),
		RateUserPublish: a.cfg.RateUserPublish, RateHook: a.cfg.RateHook,
		MaxFanoutBytes: int64(a.cfg.MaxFanoutBytes), TrustedProxies: proxies,
		AuthFailureLimit: a.cfg.AuthFailureLimit, AuthFailuresRefused: m.AuthFailuresRefused,
		Delivery: engine, Channels: store, Unsubscribe: unsubscribe,
		Push: httpapi.PushConfig{PublicKey: a.push.PublicKey(), Store: store, AllowInsecure: a.cfg.PushAllowInsecure,
			Subscribed: engine.PushSubscribed, Read: a.pushRead},
		Keys: httpapi.KeyAdmin{Store: store, ConfigIDs: authn.ConfigKeyIDs(), Forget: authn.ForgetKey},
		Now:  a.now,
	})
	// The engine's loop runs until Close; its API works before.
	engine.Start(context.Background())
	ok = true
	return a, nil
}

// devToken mints development tokens for the dashboard's sign-in when the server runs
// with --dev-tokens and an HS256 secret; nil otherwise.
func (a *App) devToken() func(string) (string, error) {
	if !a.cfg.DevTokens || a.cfg.JWTSecret == "" {
		return nil
	}
	if a.log != nil {
		a.log.Warn("--dev-tokens: anyone who can reach this server can sign in as any user; never use it in production")
	}
	secret := []byte(a.cfg.JWTSecret)
	return func(user string) (string, error) {
		return auth.MintJWT(secret, user, time.Hour, a.now())
	}
}

// Hub is the node's hub.
func (a *App) Hub() *hub.Hub { return a.hub }

func (a *App) ready(ctx context.Context) ([]string, error) {
	if err := a.store.Ping(ctx); err != nil {
		// A store that answers but cannot write says what is wrong (its message
		// names the problem, never a path); anything else is "unreachable".
		if tocsin.ErrorCodeOf(err) == tocsin.EUnavailable {
			return nil, err
		}
		return nil, tocsin.Errorf(tocsin.EUnavailable, "store unreachable")
	}
	if p, ok := a.bus.(tocsin.BusPinger); ok {
		if err := p.Ping(ctx); err != nil {
			return []string{"bus unreachable: live delivery across nodes is paused; publishes are stored and clients catch up when it is back"}, nil
		}
	}
	return nil, nil
}

// Serve serves on ln until Shutdown. It returns nil after a graceful shutdown.
//
// A request's headers and body must arrive within --read-timeout (its headers within
// 10s of it): a client announcing a body it never sends is cut off instead of holding
// a goroutine for ever; streams clear the deadline once they are open
// (httpapi/readtimeout.go). Each client address holds at most --max-conns-per-ip
// connections (httpapi/connlimit.go).
func (a *App) Serve(ln net.Listener) error {
	ln = httpapi.LimitConns(ln, a.cfg.MaxConnsPerIP, a.proxies, a.cfg.TLSCert == "", a.log)
	readTimeout := a.cfg.ReadTimeout
	if readTimeout <= 0 { // never unbounded, whatever the Config (Validate refuses 0)
		readTimeout = config.Default().ReadTimeout
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadTimeout:       readTimeout,
		ReadHeaderTimeout: min(10*time.Second, readTimeout),
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	if a.cfg.TLSCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	// Shutdown closes the listeners first, then runs this: streams are told to
	// reconnect once no new one can arrive.
	srv.RegisterOnShutdown(a.hub.Shutdown)
	// Shutdown may run on another goroutine before or while Serve starts.
	a.srvMu.Lock()
	if a.stopped {
		a.srvMu.Unlock()
		return nil
	}
	a.srv = srv
	a.srvMu.Unlock()
	var err error
	if a.cfg.TLSCert != "" {
		err = srv.ServeTLS(ln, a.cfg.TLSCert, a.cfg.TLSKey)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops the node gracefully, in this order: it stops accepting, tells
// every stream to reconnect elsewhere, waits (all of it up to ctx) for in-flight
// requests such as publishes and then for the streams that outlive their handlers
// (taken-over SSE connections, WebSockets) to end, then closes the hub (waiting for
// its goroutines), the bus and the store: nothing uses the store once it closes.
func (a *App) Shutdown(ctx context.Context) error {
	a.srvMu.Lock()
	srv := a.srv
	a.stopped = true
	a.srvMu.Unlock()
	var err error
	if srv != nil {
		err = srv.Shutdown(ctx) // runs hub.Shutdown once the listeners are closed
		if err != nil {
			_ = srv.Close()
		}
	}
	a.hub.Shutdown() // when Serve never ran; otherwise done already
	if herr := a.handler.Close(ctx); err == nil {
		err = herr
	}
	a.Close()
	return err
}

// Close closes the hub (waiting for what it started), then releases the bus, the
// store and, once the store is closed, the data dir's lock. Calls after the first
// do nothing. Without Shutdown first, open streams are cut off.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		if a.handler != nil {
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // no waiting: only the hang-up watcher stops
			_ = a.handler.Close(ctx)
		}
		// The engine publishes through the hub and keeps its jobs in the store: it
		// stops (waiting for its sends in flight) before either.
		if a.engine != nil {
			a.engine.Close()
		}
		if a.hub != nil {
			a.hub.Close()
		}
		if a.bus != nil {
			_ = a.bus.Close()
		}
		if a.store != nil {
			if err := a.store.Close(); err != nil {
				a.log.Error("closing store", "err", err)
			}
		}
		for _, f := range a.locks {
			_ = f.Close()
		}
	})
}

// newAuthenticator builds the node's authenticator; keys finds the API keys kept in
// the store (tocsin keys).
func newAuthenticator(cfg config.Config, now func() time.Time, keys func(hash string) (string, bool, error)) (*auth.Authenticator, error) {
	ac := auth.Config{
		APIKeys: cfg.APIKeys, JWTIssuer: cfg.JWTIssuer, JWTAudience: cfg.JWTAudience,
		AllowNoExp: cfg.JWTAllowNoExp, Now: now, KeyLookup: keys,
	}
	if cfg.JWTPublicKey != "" {
		pem, err := os.ReadFile(cfg.JWTPublicKey)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key: %w", err)
		}
		ac.JWTPublicKeyPEM = pem
	} else {
		ac.JWTSecret = []byte(cfg.JWTSecret)
	}
	return auth.New(ac)
}

// storedKeyLookup is auth.Config.KeyLookup on the API keys kept in keys: an unknown
// key is not live; a store that does not answer within 2s is an error (the key is
// refused this time, and asked about again next time).
func storedKeyLookup(keys tocsin.APIKeyRecords) func(hash string) (string, bool, error) {
	return func(hash string) (string, bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		k, err := keys.APIKey(ctx, hash)
		if tocsin.ErrorCodeOf(err) == tocsin.ENotFound {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		return k.ID, k.RevokedAt == nil, nil
	}
}

// OpenStore opens the store cfg names (for tools such as tocsin keys).
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (tocsin.Store, error) {
	return openStoreClock(ctx, cfg, log, time.Now)
}

// openStoreClock opens the store cfg names, with now as its clock.
func openStoreClock(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time) (tocsin.Store, error) {
	u := cfg.StoreURL()
	switch {
	case strings.HasPrefix(u, "sqlite:"):
		path := strings.TrimPrefix(u, "sqlite:")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store dir: %w", err)
		}
		s, err := sqlite.Open(ctx, path, sqlite.Options{Sync: cfg.SQLiteSync, Logger: log, Now: now})
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
		}
		return s, nil
	case strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://"):
		s, err := postgres.OpenOptions(ctx, u, postgres.Options{Logger: log, Now: now})
		if err != nil {
			return nil, fmt.Errorf("open postgres store %s: %w", redact(u), err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("--store %q: want sqlite:<path> or postgres://...", redact(u))
	}
}

func openBus(ctx context.Context, cfg config.Config, log *slog.Logger) (tocsin.Bus, error) {
	switch {
	case cfg.Bus == "" || cfg.Bus == "memory":
		return membus.New(), nil
	case strings.HasPrefix(cfg.Bus, "redis://") || strings.HasPrefix(cfg.Bus, "rediss://"):
		b, err := redisbus.Open(ctx, cfg.Bus, log)
		if err != nil {
			return nil, fmt.Errorf("--bus %s: %w", redact(cfg.Bus), err)
		}
		return b, nil
	case strings.HasPrefix(cfg.Bus, "nats://"):
		b, err := natsbus.Open(ctx, cfg.Bus, log)
		if err != nil {
			return nil, fmt.Errorf("--bus %s: %w", redact(cfg.Bus), err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("--bus %q: want memory, redis://... or nats://...", redact(cfg.Bus))
	}
}

// Redact hides a URL's password for logs and errors.
func Redact(u string) string { return redact(u) }

func redact(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.Index(u[i+3:], "@"); j >= 0 {
			return u[:i+3] + "***@" + u[i+3+j+1:]
		}
	}
	return u
}

// ensureSecrets makes a fresh data dir usable with no configuration: with no API key
// (or no JWT secret or key) configured, a random one is created once in the data dir
// (mode 0600) and used from then on. Only the file's path is logged, never the secret.
// A generated secret has 24 random bytes (48 hex characters: above both floors); a
// file someone shortened by hand is refused like a weak flag.
func (a *App) ensureSecrets() error {
	if len(a.cfg.APIKeys) == 0 {
		key, path, err := a.secretFile(a.cfg.DataDir, "api-key", "tk_")
		if err != nil {
			return err
		}
		if len(key) < auth.MinAPIKeyLen {
			return fmt.Errorf("the API key in %s is %d characters; at least %d are required: delete the file to have a new one generated, or set --api-key (%s)",
				path, len(key), auth.MinAPIKeyLen, auth.APIKeyRemedy)
		}
		a.cfg.APIKeys = []string{key}
		a.log.Info("no --api-key configured; using the generated key in the data dir", "file", path)
	}
	if a.cfg.JWTSecret == "" && a.cfg.JWTPublicKey == "" {
		secret, path, err := a.secretFile(a.cfg.DataDir, "jwt-secret", "")
		if err != nil {
			return err
		}
		if len(secret) < auth.MinJWTSecretBytes {
			return fmt.Errorf("the JWT secret in %s is %d bytes; HS256 needs at least %d (RFC 7518 §3.2): delete the file to have a new one generated, or set --jwt-secret (%s)",
				path, len(secret), auth.MinJWTSecretBytes, auth.JWTSecretRemedy)
		}
		a.cfg.JWTSecret = secret
		a.log.Info("no --jwt-secret configured; using the generated secret in the data dir", "file", path)
	}
	return nil
}

// SecretPath is where a generated secret of the data dir lives.
func SecretPath(dataDir, name string) string { return filepath.Join(dataDir, name) }

// ReadSecret reads a generated secret of the data dir ("" if there is none).
func ReadSecret(dataDir, name string) string {
	b, err := os.ReadFile(SecretPath(dataDir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (a *App) secretFile(dir, name, prefix string) (value, path string, err error) {
	path = SecretPath(dir, name)
	if v := ReadSecret(dir, name); v != "" {
		// Made by an older version, or copied in: readable by its owner only.
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, fi.Mode().Perm()&0o700); err != nil {
				a.log.Warn("cannot make a secret file readable by its owner only", "file", path, "err", err)
			}
		}
		return v, path, nil
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	value = prefix + hex.EncodeToString(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", fmt.Errorf("create %s: %w", path, err)
	}
	_, werr := f.WriteString(value + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", "", fmt.Errorf("write %s: %w", path, werr)
	}
	return value, path, nil
}

// offIfZero maps the config's "0: off" onto the hub's "negative: off".
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// noLimitIfZero maps the config's "0: no limit" onto the hub's "negative: no limit".
func noLimitIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
