package e2e

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/config"
	"github.com/tocsin/tocsin/internal/app"
)

// restartable is a node that can be stopped and started again on the same address
// and data dir, with other flags (a rotated JWT secret).
type restartable struct {
	t       *testing.T
	addr    string
	dataDir string
	mu      sync.Mutex
	app     *app.App
	done    chan error
}

func (r *restartable) start(secret string) {
	r.t.Helper()
	cfg, err := config.Load([]string{
		"--addr", r.addr, "--data-dir", r.dataDir,
		"--api-key", apiKey, "--jwt-secret", secret, "--sqlite-sync", "normal",
	}, func(string) string { return "" })
	if err != nil {
		r.t.Fatalf("config: %v", err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		r.t.Fatalf("app: %v", err)
	}
	var ln net.Listener
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("listen %s again: %v", r.addr, err)
		}
	}
	r.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- a.Serve(ln) }()
	r.mu.Lock()
	r.app, r.done = a, done
	r.mu.Unlock()
}

func (r *restartable) stop() {
	r.mu.Lock()
	a, done := r.app, r.done
	r.app = nil
	r.mu.Unlock()
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.Shutdown(ctx)
	<-done
}

// TestJSClientTokenRefresh runs web/client.refresh.test.mjs: the JavaScript client's
// getToken (issue 12, item 6, the client half). A stand-in for the application's
// backend mints user tokens with the server's current secret and can restart the
// server with a rotated one:
//   - after the rotation the stream ends and the next stream ticket answers 401 to
//     the old token; the client calls getToken once and resumes, and the events
//     published meanwhile arrive exactly once;
//   - with 3-second tokens, publishing across two expiries: every event exactly once,
//     and (once the server ends streams at token expiry, the server half of item 6)
//     a fresh token and a reopened stream at each expiry. Without the server half the
//     node test reports itself skipped.
func TestJSClientTokenRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	t.Parallel()
	r := &restartable{t: t, addr: "127.0.0.1:0", dataDir: t.TempDir()}
	secret := jwtSecret
	var mu sync.Mutex
	r.start(secret)
	t.Cleanup(r.stop)

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/token":
			ttl, err := strconv.Atoi(req.URL.Query().Get("ttl"))
			user := req.URL.Query().Get("user")
			if err != nil || user == "" {
				http.Error(w, "user and ttl, please", http.StatusBadRequest)
				return
			}
			mu.Lock()
			key := []byte(secret)
			mu.Unlock()
			var tok string
			if ttl == 0 { // a token without exp, to probe whether the server refuses it
				tok, err = jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user}).SignedString(key)
			} else {
				tok, err = auth.MintJWT(key, user, time.Duration(ttl)*time.Second, time.Now())
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			io.WriteString(w, tok)
		case "/rotate":
			mu.Lock()
			secret = "a-rotated-secret-that-is-long-enough-too"
			next := secret
			mu.Unlock()
			r.stop()
			r.start(next)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(backend.Close)

	runNodeTests(t, []string{"TOCSIN_URL=http://" + r.addr, "TOCSIN_USER=js-refresh",
		"TOCSIN_API_KEY=" + apiKey, "TOCSIN_APP_URL=" + backend.URL},
		"../web/client.refresh.test.mjs")
}
