// Package httpapi is tocsin's HTTP surface: the route table, the REST handlers, the
// SSE writer and the middleware (auth, CORS, logging). Handlers return an error; one
// function writes every error as JSON.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/internal/clientip"
)

// Store is what the handlers read from the store and the credentials they keep.
// Changes that append events go through the hub, never here, so each one reaches
// the bus. A tocsin.Store is one; the contracts are tocsin's.
type Store interface {
	tocsin.InboxReader
	tocsin.StreamTokens
	tocsin.Tickets
}

// Authenticator checks the credentials requests carry; *auth.Authenticator is one.
type Authenticator interface {
	// APIKey reports whether key is a valid API key, and its principal.
	APIKey(key string) (tocsin.Principal, bool)
	// VerifyJWT checks an end user's token. Every failure is an EUnauthorized
	// *tocsin.Error whose message never holds the token.
	VerifyJWT(token string) (tocsin.Principal, error)
}

var _ Authenticator = (*auth.Authenticator)(nil)

// Config wires a Server. Hub, Store and Auth are required.
type Config struct {
	Hub    *hub.Hub
	Store  Store
	Auth   Authenticator
	Logger *slog.Logger
	// Gatherer serves /metrics; nil disables the endpoint.
	Gatherer prometheus.Gatherer
	// HTTPRequests, when set, counts answered requests by route and status class.
	HTTPRequests *prometheus.CounterVec
	// Ready is /readyz's check: an error (the store is unreachable) answers 503;
	// warnings (the bus is unreachable: publishes still work, live delivery across
	// nodes waits) answer 200 with status "degraded". nil means always ready.
	Ready func(ctx context.Context) (warnings []string, err error)

	Retry time.Duration // the SSE retry hint (3s)
	Batch time.Duration // default batching window of streams (0: off)
	// Token-bucket rates per second (0: no limit): publishes per API key, inbox
	// requests per user, new streams per user.
	RatePublish, RateUser, RateConnect float64
	// DevToken, when set, mints a user token for GET/POST /api/dev/token (the
	// dashboard's development sign-in, --dev-tokens).
	DevToken func(userID string) (string, error)
	// Totals reports the events published and delivered by this node (the
	// dashboard's live figures).
	Totals       func() (published, delivered int64)
	WriteTimeout time.Duration // deadline of each write to a stream (10s)
	CORSOrigins  []string      // allowed cross-origin callers; "*" allows any
	// TrustedUserHeaders, when set, name the headers a trusted gateway sets to the
	// user's id (e.g. Member-ID, MemberId); requests carrying one are that user's.
	// Exactly these names are read.
	TrustedUserHeaders []string
	BasePath           string // e.g. "/notify": every route is mounted under it
	Version            string

	// Limits against one client exhausting the node (issue 12). RateUserPublish is
	// custom events per second per user on POST /events, RateHook publishes per second
	// per hook token (0: no limit). MaxFanoutBytes bounds recipients × encoded size of
	// one publish (0: no bound). TrustedProxies are the peers whose X-Forwarded-For
	// names the client (clientaddr.go).
	RateUserPublish, RateHook float64
	MaxFanoutBytes            int64
	TrustedProxies            clientip.Proxies
	// AuthFailureLimit is the failed credential checks a client address may make per
	// minute before its credential-checking requests get 429 (guesslimit.go; 0: off);
	// AuthFailureTable bounds the addresses tracked (0: 10,000). AuthFailuresRefused,
	// when set, counts the requests so refused.
	AuthFailureLimit, AuthFailureTable int
	AuthFailuresRefused                prometheus.Counter

	// Delivery is the delivery engine (scheduled publishes, channel timers,
	// webhooks); Channels keeps profiles and preferences and reads the delivery
	// log; Unsubscribe checks one-click unsubscribe tokens (nil: no email). Routes
	// that need one that is nil answer 503.
	Delivery    Delivery
	Channels    ChannelStore
	Unsubscribe Unsubscriber
	// Push serves the Web Push routes (push.go); zero: they answer 503.
	Push PushConfig
	// Keys serves /api/keys (keys.go); zero: those routes answer 503.
	Keys KeyAdmin

	// Now is the server's clock (time.Now), the hub's: the time of what it stores
	// (tokens, tickets, publishes) and of a credential's end. Deadlines, rate
	// buckets and durations use the runtime's monotonic clock.
	Now func() time.Time
}

// Server is the http.Handler of one tocsin node.
type Server struct {
	cfg     Config
	hub     *hub.Hub
	store   Store
	auth    Authenticator
	log     *slog.Logger
	handler http.Handler
	origins map[string]bool // --cors-origins given by name
	anyOrig bool            // --cors-origins has "*": any page, bearer tokens only

	wsAccept *websocket.AcceptOptions
	// openapiDoc is /api/openapi.json with this server's version.
	openapiDoc []byte
	pushIDs    tocsin.IDGen // subscription ids
	limits     limiters
	guesses    *failureLimiter // failed credential checks per address; nil: off
	// keysMu makes POST /api/keys's count and insert one step on this node.
	keysMu sync.Mutex

	// streams counts the streams the server runs beyond its handlers: taken-over SSE
	// connections and WebSocket ones (net/http's Shutdown waits for neither), each
	// with the goroutines it started. Close waits for them.
	streams streamSet
	// watcher tells when the peers of taken-over connections hang up
	// (closewatch_linux.go); Close stops it.
	watcher *closeWatcher
	// scripts holds the JavaScript files served, with their gzip forms and ETags.
	scripts scripts
}

// authKind says which principal a route requires.
type authKind int

const (
	authNone   authKind = iota // public
	authApp                    // the application's API key
	authUser                   // an end user's JWT (header, cookie or ?token=)
	authStream                 // as authUser, or a single-use ?ticket=
)

type handlerFunc func(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error

// route is one row of the route table; openapi_test.go checks the table against
// /api/openapi.json, so the two cannot drift apart.
type route struct {
	method, pattern string
	auth            authKind
	h               handlerFunc
	limit           limitKind
}

func (s *Server) routes() []route {
	return []route{
		{"GET", "/healthz", authNone, s.healthz, limitNone},
		{"GET", "/readyz", authNone, s.readyz, limitNone},
		{"GET", "/metrics", authNone, s.metrics, limitNone},
		{"GET", "/api/openapi.json", authNone, s.openapi, limitNone},
		{"GET", "/client.js", authNone, s.clientJS, limitNone},
		{"GET", "/inbox.js", authNone, s.inboxJS, limitNone},
		{"GET", "/inbox/{module}", authNone, s.inboxModule, limitNone},
		{"GET", "/client-inbox.js", authNone, s.clientModule, limitNone},
		{"GET", "/client-rest.js", authNone, s.clientModule, limitNone},
		{"GET", "/client-push.js", authNone, s.clientModule, limitNone},
		{"GET", "/{$}", authNone, s.dashboard, limitNone},
		{"GET", "/app.js", authNone, s.dashboardJS, limitNone},
		{"GET", "/admin", authNone, s.admin, limitNone},
		{"GET", "/admin.js", authNone, s.adminJS, limitNone},
		{"GET", "/sw.js", authNone, s.serviceWorkerJS, limitNone},
		{"POST", "/api/dev/token", authNone, s.devToken, limitConnect},
		{"GET", "/api/stats", authApp, s.stats, limitNone},

		{"POST", "/api/notifications", authApp, s.publish, limitPublish},
		{"POST", "/api/users/{userId}/events", authApp, s.publishCustom, limitPublish},
		{"GET", "/api/users/{userId}/notifications", authApp, s.adminList, limitNone},
		{"DELETE", "/api/users/{userId}/notifications/{id}", authApp, s.adminDelete, limitNone},
		{"GET", "/api/users/{userId}/connections", authApp, s.adminConnections, limitNone},
		{"GET", "/api/users/{userId}/notifications/{id}/deliveries", authApp, s.deliveries, limitNone},
		{"GET", "/api/users/{userId}", authApp, s.getProfile, limitNone},
		{"PUT", "/api/users/{userId}", authApp, s.putProfile, limitNone},
		{"GET", "/api/users/{userId}/preferences", authApp, s.getPreferences, limitNone},
		{"PUT", "/api/users/{userId}/preferences", authApp, s.putPreferences, limitNone},
		{"GET", "/api/scheduled", authApp, s.listScheduled, limitNone},
		{"DELETE", "/api/scheduled/{id}", authApp, s.cancelScheduled, limitNone},
		{"POST", "/api/webhooks", authApp, s.createWebhook, limitNone},
		{"GET", "/api/webhooks", authApp, s.listWebhooks, limitNone},
		{"DELETE", "/api/webhooks/{id}", authApp, s.deleteWebhook, limitNone},
		{"GET", "/api/webhooks/{id}/deliveries", authApp, s.webhookDeliveries, limitNone},
		// One-click unsubscribe (RFC 8058): the token in the link is the credential.
		{"GET", "/api/unsubscribe", authNone, s.unsubscribe, limitNone},
		{"POST", "/api/unsubscribe", authNone, s.unsubscribe, limitNone},

		{"GET", "/api/notifications", authUser, s.list, limitUser},
		{"GET", "/api/notifications/unread-count", authUser, s.unreadCount, limitUser},
		{"POST", "/api/notifications/read-all", authUser, s.readAll, limitUser},
		{"PATCH", "/api/notifications", authUser, s.patchMany, limitUser},
		{"POST", "/api/notifications/stream-ticket", authUser, s.streamTicket, limitUser},
		{"GET", "/api/notifications/stream", authStream, s.stream, limitConnect},
		// ws authenticates and limits itself: refusals come after the upgrade.
		{"GET", "/api/notifications/ws", authNone, s.ws, limitNone},
		{"GET", "/api/notifications/{id}", authUser, s.get, limitUser},
		{"PATCH", "/api/notifications/{id}", authUser, s.patch, limitUser},
		{"DELETE", "/api/notifications/{id}", authUser, s.delete, limitUser},
		{"GET", "/api/notifications/{id}/deliveries", authUser, s.deliveries, limitUser},
		{"GET", "/api/preferences", authUser, s.getPreferences, limitUser},
		{"PUT", "/api/preferences", authUser, s.putPreferences, limitUser},
		{"PATCH", "/api/preferences", authUser, s.putPreferences, limitUser},
		{"GET", "/api/push/vapid-public-key", authNone, s.pushPublicKey, limitNone},
		{"POST", "/api/push/subscriptions", authUser, s.subscribePush, limitUser},
		{"GET", "/api/push/subscriptions", authUser, s.listPushSubscriptions, limitUser},
		{"DELETE", "/api/push/subscriptions/{id}", authUser, s.unsubscribePush, limitUser},
		// The service worker's click: the read ticket in the body is the credential.
		{"POST", "/api/push/read", authNone, s.pushRead, limitNone},
		// The member-events surface (PRODUCT.md §5.3). POST authenticates itself: an
		// API key naming the member, or the member.
		{"GET", "/events", authStream, s.memberEvents, limitConnect},
		{"POST", "/events", authNone, s.publishMemberEvent, limitNone},

		// Topics and capability URLs (PRODUCT.md §5.4).
		{"POST", "/api/tokens", authApp, s.createToken, limitNone},
		{"GET", "/api/tokens", authApp, s.listTokens, limitNone},
		{"DELETE", "/api/tokens/{token}", authApp, s.revokeToken, limitNone},
		{"GET", "/api/keys", authApp, s.listKeys, limitNone},
		{"POST", "/api/keys", authApp, s.createKey, limitNone},
		{"DELETE", "/api/keys/{id}", authApp, s.revokeKey, limitNone},
		{"GET", "/api/stream/{token}", authNone, s.capabilityStream, limitNone}, // the token is the credential
		{"POST", "/api/hooks/{token}", authNone, s.hook, limitNone},             // the token is the credential; limited per token
		{"GET", "/api/topics/{name}/stream", authStream, s.topicStream, limitConnect},
	}
}

// New builds the handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 3 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg: cfg, hub: cfg.Hub, store: cfg.Store, auth: cfg.Auth, log: cfg.Logger,
		origins: map[string]bool{}, wsAccept: wsAcceptOptions(), watcher: &closeWatcher{},
		limits: limiters{
			publish: newKeyedLimiter(cfg.RatePublish), user: newKeyedLimiter(cfg.RateUser),
			connect: newKeyedLimiter(cfg.RateConnect), userPublish: newKeyedLimiter(cfg.RateUserPublish),
			hook: newKeyedLimiter(cfg.RateHook),
		},
		guesses: newFailureLimiter(cfg.AuthFailureLimit, cfg.AuthFailureTable),
	}
	s.openapiDoc = withVersion(openapiJSON, cfg.Version)
	for _, o := range cfg.CORSOrigins {
		if o == "*" {
			s.anyOrig = true
			continue
		}
		s.origins[strings.TrimSuffix(o, "/")] = true
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.pattern, s.adapt(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The path may hold a capability token (a mistyped /api/stream/{token}/x).
		path := redactPath(r.URL.Path)
		if allow := allowedMethods(mux, r); allow != "" {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, tocsin.Errorf(tocsin.EMethod, "%s is not allowed on %s: use %s", r.Method, path, allow))
			return
		}
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "no such endpoint", slog.String("method", r.Method), slog.String("path", path))
		s.writeError(w, r, tocsin.Errorf(tocsin.ENotFound, "no such endpoint: %s %s", r.Method, path))
	})
	var h http.Handler = mux
	if base := strings.TrimSuffix(cfg.BasePath, "/"); base != "" {
		h = http.StripPrefix(base, mux)
	}
	s.handler = s.recoverer(s.securityHeaders(s.cors(h)))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// allowedMethods lists the methods mux routes r's path with, other than the
// catch-all: "" when none (the path is not an endpoint at all). The catch-all "/"
// matches every method, so ServeMux never answers 405 by itself; this runs only on
// that error path.
func allowedMethods(mux *http.ServeMux, r *http.Request) string {
	var allow []string
	for _, m := range [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// Close waits, up to ctx, for the streams the server runs outside net/http's
// handlers (taken-over SSE connections, WebSockets) to end, then stops the hang-up
// watcher. Call it after http.Server.Shutdown and hub.Shutdown (which tells the
// streams to end), and before the hub and the store close. It returns ctx's error
// when streams were still open at the deadline.
func (s *Server) Close(ctx context.Context) error {
	err := s.streams.wait(ctx)
	if err != nil {
		s.log.Warn("streams still open at the shutdown deadline", "streams", s.streams.open())
	}
	s.watcher.close()
	return err
}

// now is the server's clock, in UTC.
func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// adapt turns a route into an http.Handler: authenticate, run, write any error,
// record the response (access.go), unless a taken-over stream records it itself.
func (s *Server) adapt(rt route) http.Handler {
	name := &routeName{label: rt.method + " " + rt.pattern, pattern: rt.pattern}
	guarded := credentialRoute(rt)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, rec: accessRecord{route: name, start: time.Now()}}
		var p tocsin.Principal
		var err error
		if guarded {
			err = s.refuseGuesser(r, sw.Header().Set) // before any credential is looked up
		}
		if err == nil {
			p, err = s.authenticate(r, rt.auth)
			sw.rec.userID = p.UserID
		}
		if err == nil {
			err = s.checkLimit(rt.limit, p, sw.Header().Set)
		}
		if err == nil {
			err = rt.h(sw, r, p)
		}
		if guarded {
			s.countGuess(r, err)
		}
		if sw.detached {
			return // the stream's connection was taken over: it records its response
		}
		if err != nil && !sw.wrote {
			s.writeError(sw, r, err)
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			sw.rec.req = s.requestLine(r)
		}
		s.record(r.Context(), &sw.rec, sw.status)
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "path", redactRequest(r), "panic", v, "stack", string(debug.Stack()))
				s.writeError(w, r, tocsin.Errorf(tocsin.EInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders marks every response the server writes: nosniff, so a browser never
// runs a JSON body or an error as a script or a page; and, on HTTPS, HSTS, so it never
// comes back over plain HTTP (a downgrade would expose the cookie and tokens). Taken-
// over streams and WebSocket upgrades copy the header map, so they carry them too.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
