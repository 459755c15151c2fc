package httpapi_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/sqlite"
)

const testVAPIDPublic = "BPublicKeyOfTheTests"

func newPushServer(t *testing.T) *channelsServer {
	return newChannelsServerWith(t, func(c *httpapi.Config, store *sqlite.Store) {
		c.Push = httpapi.PushConfig{PublicKey: testVAPIDPublic, Store: store}
	})
}

func pushSubBody(t *testing.T, endpoint, mod string) string {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	p256dh, a := base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes()), base64.RawURLEncoding.EncodeToString(auth)
	switch mod {
	case "short-auth":
		a = base64.RawURLEncoding.EncodeToString(auth[:8])
	case "bad-p256dh":
		p256dh = "AAAA"
	case "no-keys":
		return fmt.Sprintf(`{"endpoint":%q}`, endpoint)
	case "unknown-field":
		return fmt.Sprintf(`{"endpoint":%q,"keys":{"p256dh":%q,"auth":%q},"extra":1}`, endpoint, p256dh, a)
	}
	return fmt.Sprintf(`{"endpoint":%q,"expirationTime":null,"keys":{"p256dh":%q,"auth":%q},"deviceId":"phone"}`, endpoint, p256dh, a)
}

// TestPushRoutes: the public key is public; a subscription is validated (each
// bad field named), stored once per endpoint, listed without its keys and only
// to its user, and deleted by its user only.
func TestPushRoutes(t *testing.T) {
	c := newPushServer(t)
	ana, bo := c.user("ana"), c.user("bo")
	if st, body := c.do("GET", "/api/push/vapid-public-key", "", ""); st != 200 || !strings.Contains(body, `"publicKey":"`+testVAPIDPublic+`"`) {
		t.Fatalf("public key: %d %s", st, body)
	}
	const ep = "https://push.example.com/send/abc"
	for _, tc := range []struct{ name, body, want string }{
		{"http endpoint", pushSubBody(t, "http://push.example.com/x", ""), "https"},
		{"loopback endpoint", pushSubBody(t, "https://127.0.0.1/x", ""), "endpoint"},
		{"short auth", pushSubBody(t, ep, "short-auth"), "auth"},
		{"bad p256dh", pushSubBody(t, ep, "bad-p256dh"), "p256dh"},
		{"no keys", pushSubBody(t, ep, "no-keys"), "keys"},
		{"unknown field", pushSubBody(t, ep, "unknown-field"), "extra"},
		{"no endpoint", `{"keys":{"p256dh":"x","auth":"y"}}`, "endpoint"},
	} {
		if st, body := c.do("POST", "/api/push/subscriptions", ana, tc.body); st != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 naming %q", tc.name, st, body, tc.want)
		}
	}
	if st, _ := c.do("POST", "/api/push/subscriptions", "", pushSubBody(t, ep, "")); st != 401 {
		t.Errorf("without a token: %d, want 401", st)
	}
	var first, again struct{ ID string }
	st, body := c.do("POST", "/api/push/subscriptions", ana, pushSubBody(t, ep, ""))
	if st != 201 || json.Unmarshal([]byte(body), &first) != nil || first.ID == "" {
		t.Fatalf("subscribe: %d %s", st, body)
	}
	st, body = c.do("POST", "/api/push/subscriptions", ana, pushSubBody(t, ep, ""))
	if st != 201 || json.Unmarshal([]byte(body), &again) != nil || again.ID != first.ID {
		t.Fatalf("subscribe again: %d %s, want id %s kept", st, body, first.ID)
	}
	st, body = c.do("GET", "/api/push/subscriptions", ana, "")
	var list struct {
		Subscriptions []map[string]any `json:"subscriptions"`
	}
	if st != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Subscriptions) != 1 ||
		list.Subscriptions[0]["id"] != first.ID || list.Subscriptions[0]["endpoint"] != ep || list.Subscriptions[0]["deviceId"] != "phone" {
		t.Fatalf("list: %d %s", st, body)
	}
	if strings.Contains(body, "p256dh") || strings.Contains(body, "auth") {
		t.Errorf("list shows keys: %s", body)
	}
	if st, body := c.do("GET", "/api/push/subscriptions", bo, ""); st != 200 || body != `{"subscriptions":[]}`+"\n" && body != `{"subscriptions":[]}` {
		t.Errorf("another user's list: %d %q", st, body)
	}
	if st, _ := c.do("DELETE", "/api/push/subscriptions/"+first.ID, bo, ""); st != http.StatusNotFound {
		t.Errorf("another user's delete: %d, want 404", st)
	}
	if st, _ := c.do("DELETE", "/api/push/subscriptions/"+first.ID, ana, ""); st != http.StatusNoContent {
		t.Errorf("delete: %d, want 204", st)
	}
	if st, _ := c.do("DELETE", "/api/push/subscriptions/"+first.ID, ana, ""); st != http.StatusNotFound {
		t.Errorf("delete again: %d, want 404", st)
	}
}

// TestPushRoutesOff: without Web Push the routes answer 503.
func TestPushRoutesOff(t *testing.T) {
	c := newChannelsServer(t)
	if st, _ := c.do("GET", "/api/push/vapid-public-key", "", ""); st != http.StatusServiceUnavailable {
		t.Errorf("public key without push: %d, want 503", st)
	}
	if st, _ := c.do("GET", "/api/push/subscriptions", c.user("ana"), ""); st != http.StatusServiceUnavailable {
		t.Errorf("list without push: %d, want 503", st)
	}
}
