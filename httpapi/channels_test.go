package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/delivery"
	"github.com/tocsin/tocsin/email"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/membus"
	"github.com/tocsin/tocsin/sqlite"
)

const channelsKey = "tk_test_key_0123456789"

var unsubKey = []byte("unsubscribe-key-of-the-tests-0123456789")

// channelsServer is a server with the routes of the delivery engine on a real
// SQLite store (the engine is not started: these tests exercise the API edges).
type channelsServer struct {
	t  *testing.T
	ts *httptest.Server
}

func newChannelsServer(t *testing.T) *channelsServer {
	t.Helper()
	return newChannelsServerWith(t, nil)
}

// newChannelsServerWith is newChannelsServer with adjust applied to the config
// (store: the server's store, for what adjust wires to it).
func newChannelsServerWith(t *testing.T, adjust func(c *httpapi.Config, store *sqlite.Store)) *channelsServer {
	t.Helper()
	return newChannelsServerHub(t, nil, adjust)
}

// newChannelsServerHub is newChannelsServerWith with adjustHub applied to the hub's
// config first (its clock, its Committed hook).
func newChannelsServerHub(t *testing.T, adjustHub func(c *hub.Config), adjust func(c *httpapi.Config, store *sqlite.Store)) *channelsServer {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tocsin.db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{JWTSecret: testSecret, APIKeys: []string{channelsKey}})
	if err != nil {
		t.Fatal(err)
	}
	bus := membus.New()
	hcfg := hub.Config{Store: store, Bus: bus}
	if adjustHub != nil {
		adjustHub(&hcfg)
	}
	h := hub.New(hcfg)
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eng := delivery.New(delivery.Config{Store: store, Hub: h, Logger: slog.New(slog.DiscardHandler)})
	cfg := httpapi.Config{
		Hub: h, Store: store, Auth: a, Logger: slog.New(slog.DiscardHandler),
		Delivery: eng, Channels: store,
		Unsubscribe: func(tok string) (string, string, error) { return email.VerifyUnsubscribe(unsubKey, tok) },
	}
	if adjust != nil {
		adjust(&cfg, store)
	}
	srv := httpapi.New(cfg)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		h.Shutdown()
		ts.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		h.Close()
		bus.Close()
		store.Close()
	})
	return &channelsServer{t: t, ts: ts}
}

// do sends body (a string) with bearer and returns the status and body.
func (c *channelsServer) do(method, path, bearer, body string) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.ts.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.ts.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (c *channelsServer) user(id string) string {
	c.t.Helper()
	tok, err := auth.MintJWT(testSecret, id, time.Hour, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// TestChannelRoutesRefuseBadInput: each bad request is a 400 (or 404) with the
// JSON error body, and leaves what it named unchanged.
func TestChannelRoutesRefuseBadInput(t *testing.T) {
	c := newChannelsServer(t)
	if st, b := c.do("PUT", "/api/users/p1", channelsKey, `{"email":"p1@example.test","timezone":"Europe/Berlin"}`); st != 200 {
		t.Fatalf("PUT profile: %d %s", st, b)
	}
	if st, b := c.do("PUT", "/api/users/p1/preferences", channelsKey, `{"types":{"mention":{"email":true}}}`); st != 200 {
		t.Fatalf("PUT preferences: %d %s", st, b)
	}
	st, b := c.do("POST", "/api/notifications", channelsKey, `{"userId":"p1","title":"x"}`)
	if st != 201 {
		t.Fatalf("publish: %d %s", st, b)
	}
	var n struct{ ID string }
	_ = json.Unmarshal([]byte(b), &n)
	goodTok := email.UnsubscribeToken(unsubKey, "p1", "mention")
	tampered := goodTok[:len(goodTok)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(goodTok, "AA")]
	for _, tc := range []struct {
		name, method, path, bearer, body string
		status                           int
	}{
		{"profile bad timezone", "PUT", "/api/users/p1", channelsKey, `{"email":"p1@example.test","timezone":"Mars/Olympus"}`, 400},
		{"profile bad email", "PUT", "/api/users/p1", channelsKey, `{"email":"not an address"}`, 400},
		{"profile unknown field", "PUT", "/api/users/p1", channelsKey, `{"email":"p1@example.test","phone":"1"}`, 400},
		{"preferences unknown field", "PUT", "/api/users/p1/preferences", channelsKey, `{"chanels":{"email":false}}`, 400},
		{"preferences unknown channel", "PUT", "/api/users/p1/preferences", channelsKey, `{"channels":{"fax":false}}`, 400},
		{"preferences unknown channel in a type", "PUT", "/api/preferences", c.user("p1"), `{"types":{"mention":{"pigeon":true}}}`, 400},
		{"preferences bad quiet-hours zone", "PUT", "/api/preferences", c.user("p1"), `{"quietHours":{"start":"22:00","end":"07:00","timezone":"Nowhere/Land"}}`, 400},
		{"patch unknown field", "PATCH", "/api/preferences", c.user("p1"), `{"bogus":1}`, 400},
		{"patch not an object", "PATCH", "/api/preferences", c.user("p1"), `[1]`, 400},
		{"another user's deliveries", "GET", "/api/notifications/" + n.ID + "/deliveries", c.user("p2"), "", 404},
		{"scheduled bad cursor", "GET", "/api/scheduled?cursor=" + url.QueryEscape("\x01"), channelsKey, "", 400},
		{"scheduled bad cursor value", "GET", "/api/scheduled?cursor=notacursor", channelsKey, "", 400},
		{"webhook history bad cursor", "GET", "/api/webhooks/wh_x/deliveries?cursor=notacursor", channelsKey, "", 400},
		{"scheduled bad limit", "GET", "/api/scheduled?limit=-1", channelsKey, "", 400},
		{"scheduled limit not a number", "GET", "/api/scheduled?limit=ten", channelsKey, "", 400},
		{"scheduled bad user", "GET", "/api/scheduled?userId=" + url.QueryEscape("a\nb"), channelsKey, "", 400},
		{"cancel unknown", "DELETE", "/api/scheduled/nope", channelsKey, "", 404},
		{"cancel well-formed unknown", "DELETE", "/api/scheduled/" + n.ID, channelsKey, "", 404},
		{"unsubscribe tampered", "POST", "/api/unsubscribe?token=" + url.QueryEscape(tampered), "", "List-Unsubscribe=One-Click", 400},
		{"unsubscribe no token", "POST", "/api/unsubscribe", "", "List-Unsubscribe=One-Click", 400},
		{"unsubscribe GET tampered", "GET", "/api/unsubscribe?token=" + url.QueryEscape(tampered), "", "", 400},
	} {
		st, b := c.do(tc.method, tc.path, tc.bearer, tc.body)
		if st != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, st, b, tc.status)
			continue
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(b), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s: error body %q lacks code or message", tc.name, b)
		}
	}
	// Nothing changed.
	if _, b := c.do("GET", "/api/users/p1", channelsKey, ""); !strings.Contains(b, `"timezone":"Europe/Berlin"`) || !strings.Contains(b, `"email":"p1@example.test"`) {
		t.Errorf("profile changed by refused requests: %s", b)
	}
	if _, b := c.do("GET", "/api/users/p1/preferences", channelsKey, ""); !strings.Contains(b, `"types":{"mention":{"email":true}}`) {
		t.Errorf("preferences changed by refused requests: %s", b)
	}

	// The untampered token works (so the refusal above was the tampering).
	if st, b := c.do("POST", "/api/unsubscribe?token="+url.QueryEscape(goodTok), "", "List-Unsubscribe=One-Click"); st != 200 {
		t.Fatalf("unsubscribe: %d %s", st, b)
	}
	if _, b := c.do("GET", "/api/users/p1/preferences", channelsKey, ""); !strings.Contains(b, `"types":{"mention":{"email":false}}`) {
		t.Errorf("preferences after unsubscribe: %s", b)
	}
}

// TestPreferencesMergePatch: PATCH is a JSON merge patch: nested objects merge key
// by key, null removes, other values replace; what is not named stays.
func TestPreferencesMergePatch(t *testing.T) {
	c := newChannelsServer(t)
	tok := c.user("m1")
	put := `{"channels":{"email":true,"push":false},"types":{"mention":{"email":false},"billing":{"push":true}},` +
		`"topics":{"news":{"webhook":false}},"quietHours":{"start":"22:00","end":"07:00","timezone":"Europe/Berlin"}}`
	if st, b := c.do("PUT", "/api/preferences", tok, put); st != 200 {
		t.Fatalf("PUT: %d %s", st, b)
	}
	patch := `{"channels":{"push":null,"webhook":false},"types":{"mention":{"push":true},"billing":null},"quietHours":null,"mutedUntil":"2030-01-01T00:00:00Z"}`
	st, b := c.do("PATCH", "/api/preferences", tok, patch)
	if st != 200 {
		t.Fatalf("PATCH: %d %s", st, b)
	}
	var got tocsin.Preferences
	if err := json.Unmarshal([]byte(b), &got); err != nil {
		t.Fatal(err)
	}
	// The stored value is what PATCH answered.
	_, stored := c.do("GET", "/api/users/m1/preferences", channelsKey, "")
	var again tocsin.Preferences
	if err := json.Unmarshal([]byte(stored), &again); err != nil {
		t.Fatal(err)
	}
	for _, p := range []tocsin.Preferences{got, again} {
		switch {
		case p.Channels["email"] != true || p.Channels["webhook"] != false:
			t.Errorf("channels %v: want email kept true, webhook false", p.Channels)
		case hasKey(p.Channels, "push"):
			t.Errorf("channels %v: push should be removed by null", p.Channels)
		case len(p.Types["mention"]) != 2 || p.Types["mention"]["email"] != false || p.Types["mention"]["push"] != true:
			t.Errorf("types.mention %v: want email false kept and push true merged", p.Types["mention"])
		case p.Types["billing"] != nil:
			t.Errorf("types.billing %v: want removed", p.Types["billing"])
		case p.Topics["news"]["webhook"] != false || len(p.Topics["news"]) != 1:
			t.Errorf("topics.news %v: want unchanged", p.Topics["news"])
		case p.QuietHours != nil:
			t.Errorf("quietHours %+v: want removed", p.QuietHours)
		case p.MutedUntil == nil || !p.MutedUntil.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)):
			t.Errorf("mutedUntil %v", p.MutedUntil)
		}
	}
	// A patch that makes the whole invalid is refused and stores nothing.
	if st, b := c.do("PATCH", "/api/preferences", tok, `{"types":{"mention":{"fax":true}}}`); st != 400 {
		t.Errorf("PATCH to an unknown channel: %d %s", st, b)
	}
	if _, b2 := c.do("GET", "/api/users/m1/preferences", channelsKey, ""); b2 != stored {
		t.Errorf("a refused PATCH changed the preferences:\n%s\n%s", stored, b2)
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
