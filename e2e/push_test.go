package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	binpkg "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// pushService is a browser's push service and the browser itself: it verifies
// each push request's VAPID token with golang-jwt (ES256 with the server's
// public key, aud its own origin, exp at most 24 h ahead, sub the configured
// contact) and decrypts the aes128gcm body with the subscription's private key,
// independently of the server's webpush package.
type pushService struct {
	t       *testing.T
	srv     *httptest.Server
	ua      *ecdh.PrivateKey
	auth    []byte
	vapid   string // the server's public key (k=)
	subject string
	gone    atomic.Bool // answer 410 Gone
	msgs    chan pushMsg
	ece     string // webpush/testdata/node/decrypt.mjs when node and http_ece are here
}

// eceScript is the http_ece decrypt script, "" when node or the package is missing
// locally (CI installs both: there a missing one fails the test).
func eceScript(t *testing.T) string {
	dir, _ := filepath.Abs(filepath.Join("..", "webpush", "testdata", "node"))
	_, nodeErr := exec.LookPath("node")
	_, pkgErr := os.Stat(filepath.Join(dir, "node_modules", "http_ece"))
	if nodeErr != nil || pkgErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node and the npm package http_ece (npm install --prefix webpush/testdata/node): CI must provide them")
		}
		t.Log("node or http_ece missing: pushes are decrypted by the test's own decrypt only")
		return ""
	}
	return filepath.Join(dir, "decrypt.mjs")
}

type pushMsg struct {
	Header http.Header
	Type   string `json:"type"`
	// Notification of a "notification" push; IDs of a "dismiss".
	Notification notification `json:"notification"`
	IDs          []string     `json:"ids"`
	UnreadCount  int          `json:"unreadCount"`
	ReadTicket   string       `json:"readTicket"`
}

var b64url = base64.RawURLEncoding

func newPushService(t *testing.T, vapid, subject string) *pushService {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	p := &pushService{t: t, ua: k, auth: auth, vapid: vapid, subject: subject, msgs: make(chan pushMsg, 64), ece: eceScript(t)}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushService) subscription(endpoint string) map[string]any {
	return map[string]any{"endpoint": endpoint, "expirationTime": nil, "deviceId": "laptop",
		"keys": map[string]string{"p256dh": b64url.EncodeToString(p.ua.PublicKey().Bytes()), "auth": b64url.EncodeToString(p.auth)}}
}

var vapidAuth = regexp.MustCompile(`^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$`)

func (p *pushService) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if p.gone.Load() {
		http.Error(w, "unsubscribed", http.StatusGone)
		return
	}
	if err := p.verify(r.Header.Get("Authorization")); err != nil {
		p.t.Errorf("VAPID: %v", err)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		p.t.Errorf("Content-Encoding %q", ce)
	}
	plain, err := uaDecrypt(p.ua, p.auth, body)
	if err != nil {
		p.t.Errorf("decrypt: %v", err)
		http.Error(w, "cannot decrypt", http.StatusBadRequest)
		return
	}
	if p.ece != "" { // and as an independent implementation does: npm http_ece
		in, _ := json.Marshal(map[string]string{"body": b64url.EncodeToString(body),
			"uaPrivate": b64url.EncodeToString(p.ua.Bytes()), "auth": b64url.EncodeToString(p.auth)})
		cmd := exec.Command("node", p.ece)
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.Output()
		if got, derr := b64url.DecodeString(string(out)); err != nil || derr != nil || !bytes.Equal(got, plain) {
			p.t.Errorf("http_ece decrypts %q (%v), want %q", got, err, plain)
		}
	}
	m := pushMsg{Header: r.Header.Clone()}
	if err := json.Unmarshal(plain, &m); err != nil {
		p.t.Errorf("push payload %s: %v", plain, err)
	}
	p.msgs <- m
	w.WriteHeader(http.StatusCreated)
}

func (p *pushService) verify(header string) error {
	m := vapidAuth.FindStringSubmatch(header)
	if m == nil {
		return fmt.Errorf("Authorization %q is not vapid t=..., k=...", header)
	}
	if m[2] != p.vapid {
		return fmt.Errorf("k=%s, want the server's public key %s", m[2], p.vapid)
	}
	raw, err := b64url.DecodeString(m[2])
	if err != nil {
		return err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return err
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(m[1], claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(p.srv.URL), jwt.WithExpirationRequired())
	if err != nil {
		return err
	}
	exp, _ := claims.GetExpirationTime()
	if exp.Sub(time.Now()) > 24*time.Hour {
		return fmt.Errorf("exp %v is more than 24 h ahead", exp)
	}
	if sub, _ := claims.GetSubject(); sub != p.subject {
		return fmt.Errorf("sub %q, want %q", sub, p.subject)
	}
	return nil
}

func (p *pushService) next() pushMsg {
	p.t.Helper()
	select {
	case m := <-p.msgs:
		return m
	case <-time.After(15 * time.Second):
		p.t.Fatal("no push within 15s")
	}
	return pushMsg{}
}

// uaDecrypt is the browser's side of RFC 8291 / RFC 8188: one record, rs 4096,
// the server's ephemeral key as keyid, the 0x02 delimiter then zeros.
func uaDecrypt(ua *ecdh.PrivateKey, auth, body []byte) ([]byte, error) {
	const header = 16 + 4 + 1 + 65
	if len(body) < header+16+1 {
		return nil, errors.New("body too short")
	}
	salt := body[:16]
	if binpkg.BigEndian.Uint32(body[16:]) != 4096 || body[20] != 65 {
		return nil, errors.New("bad aes128gcm header")
	}
	as, err := ecdh.P256().NewPublicKey(body[21:header])
	if err != nil {
		return nil, err
	}
	secret, err := ua.ECDH(as)
	if err != nil {
		return nil, err
	}
	ikm, err := hkdf.Key(sha256.New, secret, auth, "WebPush: info\x00"+string(ua.PublicKey().Bytes())+string(as.Bytes()), 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	rec, err := gcm.Open(nil, nonce, body[header:], nil)
	if err != nil {
		return nil, err
	}
	end := bytes.LastIndexByte(rec, 0x02)
	if end < 0 || bytes.ContainsFunc(rec[end+1:], func(r rune) bool { return r != 0 }) {
		return nil, errors.New("no last-record delimiter")
	}
	return rec[:end], nil
}

// TestWebPush: a subscribed browser gets a notification published on push,
// encrypted for it and signed with the server's VAPID key; reading it on another
// device dismisses it with a second push; a push service answering 410 removes
// the subscription.
func TestWebPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	const subject = "mailto:ops@example.test"
	p := startProc(t, freeAddr(t), t.TempDir(), "--push-allow-insecure", "--vapid-subject", subject)
	n, user := p.node, "push-u1"
	tok := userToken(t, user)

	r := n.do("GET", "/api/push/vapid-public-key", "", nil)
	var key struct{ PublicKey string }
	r.json(t, &key)
	if r.Status != http.StatusOK || len(key.PublicKey) != 87 {
		t.Fatalf("vapid-public-key: %d %s", r.Status, r.Body)
	}
	ps := newPushService(t, key.PublicKey, subject)

	bad := ps.subscription(ps.srv.URL + "/push/1")
	bad["keys"] = map[string]string{"p256dh": "AAAA", "auth": b64url.EncodeToString(ps.auth)}
	if r := n.do("POST", "/api/push/subscriptions", tok, bad); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "p256dh") {
		t.Fatalf("bad p256dh: %d %s, want 400 naming p256dh", r.Status, r.Body)
	}
	r = n.do("POST", "/api/push/subscriptions", tok, ps.subscription(ps.srv.URL+"/push/1"))
	var created struct{ ID string }
	r.json(t, &created)
	if r.Status != http.StatusCreated || created.ID == "" {
		t.Fatalf("subscribe: %d %s", r.Status, r.Body)
	}

	a := n.publish(user, map[string]any{"title": "pushed", "body": "hello", "priority": 4, "channels": map[string]string{"push": "0s"}})
	m := ps.next()
	if m.Type != "notification" || m.Notification.ID != a.ID || m.Notification.Title != "pushed" || m.UnreadCount != 1 {
		t.Fatalf("push = %+v, want notification %s with unreadCount 1", m, a.ID)
	}
	if u := m.Header.Get("Urgency"); u != "high" {
		t.Errorf("Urgency %q, want high (priority 4)", u)
	}
	if m.Header.Get("Topic") == "" || m.Header.Get("TTL") == "" {
		t.Errorf("Topic %q TTL %q", m.Header.Get("Topic"), m.Header.Get("TTL"))
	}
	if d := deliveryOf(t, n, user, a.ID, "push"); d.Status != "sent" {
		t.Errorf("push logged %+v, want sent", d)
	}

	// The click in the service worker: the push's read ticket marks it read, with
	// no other credential; a ticket of another notification or a forged one does not.
	if m.ReadTicket == "" {
		t.Fatal("the push carries no read ticket")
	}
	if r := n.do("POST", "/api/push/read", "", map[string]any{"id": a.ID, "ticket": m.ReadTicket + "x"}); r.Status != http.StatusUnauthorized {
		t.Fatalf("forged ticket: %d %s", r.Status, r.Body)
	}
	if r := n.do("POST", "/api/push/read", "", map[string]any{"id": "01M8XT3S2W5WFKCWY5WSA13D1P", "ticket": m.ReadTicket}); r.Status != http.StatusUnauthorized {
		t.Fatalf("another notification's ticket: %d %s", r.Status, r.Body)
	}
	if r := n.do("POST", "/api/push/read", "", map[string]any{"id": a.ID, "ticket": m.ReadTicket}); r.Status != http.StatusNoContent {
		t.Fatalf("read with the ticket: %d %s", r.Status, r.Body)
	}
	var after notification
	n.do("GET", "/api/notifications/"+a.ID, tok, nil).json(t, &after)
	if after.ReadAt == nil {
		t.Fatalf("not read after the ticket: %+v", after)
	}
	// Read by the click: every device gets a dismiss.
	m = ps.next()
	if m.Type != "dismiss" || len(m.IDs) != 1 || m.IDs[0] != a.ID || m.UnreadCount != 0 {
		t.Fatalf("after read: %+v, want dismiss of %s with unreadCount 0", m, a.ID)
	}

	// The browser unsubscribed: 410 removes the subscription.
	ps.gone.Store(true)
	b := n.publish(user, map[string]any{"title": "to nobody", "channels": map[string]string{"push": "0s"}})
	if d := deliveryOf(t, n, user, b.ID, "push"); d.Status != "failed" || d.Reason != "gone" {
		t.Errorf("push to a gone subscription logged %+v, want failed (gone)", d)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := n.do("GET", "/api/push/subscriptions", tok, nil)
		var out struct{ Subscriptions []map[string]any }
		r.json(t, &out)
		if r.Status != http.StatusOK {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		if len(out.Subscriptions) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription still listed after 410: %s", r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
