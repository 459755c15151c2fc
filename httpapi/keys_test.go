package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/sqlite"
)

// newKeysServer is a channels server whose authenticator also accepts the keys kept
// in its store, with the key routes wired as the binary wires them.
func newKeysServer(t *testing.T) *channelsServer {
	t.Helper()
	return newChannelsServerWith(t, func(c *httpapi.Config, store *sqlite.Store) {
		a, err := auth.New(auth.Config{JWTSecret: testSecret, APIKeys: []string{channelsKey},
			KeyLookup: func(hash string) (string, bool, error) {
				k, err := store.APIKey(context.Background(), hash)
				if tocsin.ErrorCodeOf(err) == tocsin.ENotFound {
					return "", false, nil
				}
				return k.ID, k.RevokedAt == nil, err
			}})
		if err != nil {
			t.Fatal(err)
		}
		c.Auth = a
		c.Keys = httpapi.KeyAdmin{Store: store, ConfigIDs: a.ConfigKeyIDs(), Forget: a.ForgetKey}
	})
}

type keyJSON struct {
	ID, Key, Name, Source string
	CreatedAt, RevokedAt  *string
	Current               bool
}

func (c *channelsServer) keys(bearer string) []keyJSON {
	c.t.Helper()
	st, b := c.do("GET", "/api/keys", bearer, "")
	if st != 200 {
		c.t.Fatalf("GET /api/keys: %d %s", st, b)
	}
	var out struct{ Keys []keyJSON }
	if err := json.Unmarshal([]byte(b), &out); err != nil {
		c.t.Fatal(err)
	}
	return out.Keys
}

func (c *channelsServer) createKey(bearer, name string) keyJSON {
	c.t.Helper()
	st, b := c.do("POST", "/api/keys", bearer, fmt.Sprintf(`{"name":%q}`, name))
	if st != 201 {
		c.t.Fatalf("POST /api/keys: %d %s", st, b)
	}
	var k keyJSON
	if err := json.Unmarshal([]byte(b), &k); err != nil {
		c.t.Fatal(err)
	}
	return k
}

// TestAPIKeysLifecycle: a created key is shown once, works at once, is listed without
// its secret, and once revoked is refused at once on this node.
func TestAPIKeysLifecycle(t *testing.T) {
	c := newKeysServer(t)
	ks := c.keys(channelsKey)
	if len(ks) != 1 || ks[0].Source != "config" || !ks[0].Current || ks[0].Name != "from config" {
		t.Fatalf("before any key: %+v", ks)
	}
	k := c.createKey(channelsKey, "billing service")
	if !strings.HasPrefix(k.Key, "tk_") || !strings.HasPrefix(k.ID, "key_") || k.Source != "store" || k.CreatedAt == nil {
		t.Fatalf("created: %+v", k)
	}
	if st, b := c.do("GET", "/api/stats", k.Key, ""); st != 200 {
		t.Fatalf("the new key: %d %s", st, b)
	}
	st, body := c.do("GET", "/api/keys", k.Key, "")
	if st != 200 || strings.Contains(body, k.Key) || strings.Contains(body, `"key"`) {
		t.Fatalf("the list shows a secret: %d %s", st, body)
	}
	checkTimes(t, "GET /api/keys", []byte(body))
	ks = c.keys(k.Key)
	if len(ks) != 2 || ks[1].ID != k.ID || !ks[1].Current || ks[0].Current || ks[1].Name != "billing service" {
		t.Fatalf("after create: %+v", ks)
	}

	// A key cannot revoke itself, nor a configured key: both 409, nothing changed.
	if st, b := c.do("DELETE", "/api/keys/"+k.ID, k.Key, ""); st != 409 || !strings.Contains(b, "signing this request") {
		t.Fatalf("self-revoke: %d %s", st, b)
	}
	if st, b := c.do("DELETE", "/api/keys/"+ks[0].ID, k.Key, ""); st != 409 || !strings.Contains(b, "configuration") {
		t.Fatalf("revoke a configured key: %d %s", st, b)
	}
	if st, b := c.do("GET", "/api/stats", k.Key, ""); st != 200 {
		t.Fatalf("after the refused self-revoke: %d %s", st, b)
	}

	if st, b := c.do("DELETE", "/api/keys/"+k.ID, channelsKey, ""); st != 204 {
		t.Fatalf("revoke: %d %s", st, b)
	}
	if st, b := c.do("GET", "/api/stats", k.Key, ""); st != 401 {
		t.Fatalf("the revoked key still works: %d %s", st, b)
	}
	ks = c.keys(channelsKey)
	if len(ks) != 2 || ks[1].RevokedAt == nil {
		t.Fatalf("after revoke: %+v", ks)
	}
	if _, body := c.do("GET", "/api/keys", channelsKey, ""); !checkTimes(t, "GET /api/keys", []byte(body))["revokedAt"] {
		t.Errorf("no revokedAt in %s", body)
	}
	if st, b := c.do("DELETE", "/api/keys/key_000000000000", channelsKey, ""); st != 404 {
		t.Fatalf("revoke an unknown key: %d %s", st, b)
	}
}

// TestAPIKeysRefuse: no credential is 401, a user's token 403, bad input 400, and
// none of them creates or revokes anything.
func TestAPIKeysRefuse(t *testing.T) {
	c := newKeysServer(t)
	k := c.createKey(channelsKey, "kept")
	user := c.user("u1")
	for _, tc := range []struct {
		name, method, path, bearer, body string
		status                           int
	}{
		{"list without a key", "GET", "/api/keys", "", "", 401},
		{"create without a key", "POST", "/api/keys", "", `{"name":"x"}`, 401},
		{"revoke without a key", "DELETE", "/api/keys/" + k.ID, "", "", 401},
		{"create with a wrong key", "POST", "/api/keys", "tk_wrong_key_0123456789", `{"name":"x"}`, 401},
		{"revoke with a user token", "DELETE", "/api/keys/" + k.ID, user, "", 403},
		{"create with a user token", "POST", "/api/keys", user, `{"name":"x"}`, 403},
		{"no name", "POST", "/api/keys", channelsKey, `{}`, 400},
		{"empty name", "POST", "/api/keys", channelsKey, `{"name":""}`, 400},
		{"long name", "POST", "/api/keys", channelsKey, `{"name":"` + strings.Repeat("n", 101) + `"}`, 400},
		{"two lines", "POST", "/api/keys", channelsKey, `{"name":"a\nb"}`, 400},
		{"unknown field", "POST", "/api/keys", channelsKey, `{"name":"a","secret":"mine"}`, 400},
		{"not JSON", "POST", "/api/keys", channelsKey, `name=a`, 400},
		{"long id", "DELETE", "/api/keys/" + strings.Repeat("k", 65), channelsKey, "", 400},
	} {
		st, b := c.do(tc.method, tc.path, tc.bearer, tc.body)
		if st != tc.status || !strings.Contains(b, `"error"`) {
			t.Errorf("%s: %d %s, want %d", tc.name, st, b, tc.status)
		}
	}
	ks := c.keys(channelsKey)
	if len(ks) != 2 || ks[1].ID != k.ID || ks[1].RevokedAt != nil {
		t.Fatalf("refused requests changed the keys: %+v", ks)
	}
	if st, b := c.do("POST", "/api/keys", channelsKey, `{"name":"`+strings.Repeat("n", 100)+`"}`); st != 201 {
		t.Fatalf("a 100-byte name: %d %s", st, b)
	}
}

// TestAPIKeysBounded: at most 100 live stored keys; revoking one makes room.
func TestAPIKeysBounded(t *testing.T) {
	c := newKeysServer(t)
	var first keyJSON
	for i := range 100 {
		k := c.createKey(channelsKey, fmt.Sprintf("k%d", i))
		if i == 0 {
			first = k
		}
	}
	if st, b := c.do("POST", "/api/keys", channelsKey, `{"name":"one too many"}`); st != 409 || !strings.Contains(b, "revoke one") {
		t.Fatalf("the 101st key: %d %s", st, b)
	}
	if st, b := c.do("DELETE", "/api/keys/"+first.ID, channelsKey, ""); st != 204 {
		t.Fatalf("revoke: %d %s", st, b)
	}
	c.createKey(channelsKey, "after a revoke")
	if ks := c.keys(channelsKey); len(ks) != 102 || ks[101].ID != first.ID {
		t.Fatalf("the list: %d keys, the last %+v", len(ks), ks[len(ks)-1])
	}
}

// TestAPIKeysUnwired: a server without a key store says so.
func TestAPIKeysUnwired(t *testing.T) {
	c := newChannelsServer(t)
	if st, b := c.do("GET", "/api/keys", channelsKey, ""); st != 503 {
		t.Fatalf("GET /api/keys unwired: %d %s", st, b)
	}
}
