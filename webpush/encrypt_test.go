package webpush

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/testenv"
)

// RFC 8291 Appendix A: the user agent's keys, the application server's ephemeral
// key and salt, and the resulting message body, all base64url.
const (
	rfcPlaintext = "When I grow up, I want to be a watermelon"
	rfcASPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
	rfcASPublic  = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
	rfcUAPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfcUAPublic  = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfcSalt      = "DGv6ra1nlYgDCS1FRnbzlw"
	rfcAuth      = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcBody      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := decodeB64(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

// TestEncryptRFC8291Vector reproduces the RFC's body byte for byte from its fixed
// ephemeral key and salt: every step of the derivation and the header layout.
func TestEncryptRFC8291Vector(t *testing.T) {
	as, err := ecdh.P256().NewPrivateKey(mustB64(t, rfcASPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64.EncodeToString(as.PublicKey().Bytes()); got != rfcASPublic {
		t.Fatalf("as_public = %s, want the RFC's %s", got, rfcASPublic)
	}
	uaPub, auth, err := Subscription{P256dh: rfcUAPublic, Auth: rfcAuth}.keys()
	if err != nil {
		t.Fatal(err)
	}
	body, err := encrypt(uaPub, auth, []byte(rfcPlaintext), 0, as, mustB64(t, rfcSalt))
	if err != nil {
		t.Fatal(err)
	}
	if got := b64.EncodeToString(body); got != rfcBody {
		t.Fatalf("body\n got %s\nwant %s", got, rfcBody)
	}
	// And the other way: the RFC's body decrypts with the RFC's UA key.
	ua, err := ecdh.P256().NewPrivateKey(mustB64(t, rfcUAPrivate))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := testDecrypt(ua, auth, mustB64(t, rfcBody))
	if err != nil || string(pt) != rfcPlaintext {
		t.Fatalf("decrypt RFC body = %q, %v", pt, err)
	}
}

// testUA is a browser's side of a subscription: its ECDH key and auth secret.
type testUA struct {
	key  *ecdh.PrivateKey
	auth []byte
}

func newTestUA(t *testing.T) testUA {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return testUA{key: k, auth: auth}
}

func (u testUA) sub(endpoint string) Subscription {
	return Subscription{Endpoint: endpoint, P256dh: b64.EncodeToString(u.key.PublicKey().Bytes()), Auth: b64.EncodeToString(u.auth)}
}

// testDecrypt is the user agent's side (RFC 8291 §3.4, RFC 8188 §2), strict about
// the header: one record of rs 4096, a 65-byte keyid, the 0x02 delimiter followed
// by zeros only.
func testDecrypt(ua *ecdh.PrivateKey, auth, body []byte) ([]byte, error) {
	if len(body) < headerLen+tagLen+1 {
		return nil, errors.New("body shorter than header and tag")
	}
	salt := body[:saltLen]
	if rs := binary.BigEndian.Uint32(body[saltLen:]); rs != recordSize {
		return nil, errors.New("rs is not 4096")
	}
	if body[saltLen+4] != pointLen {
		return nil, errors.New("idlen is not 65")
	}
	asPub, err := ecdh.P256().NewPublicKey(body[saltLen+5 : headerLen])
	if err != nil {
		return nil, err
	}
	secret, err := ua.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	info := "WebPush: info\x00" + string(ua.PublicKey().Bytes()) + string(asPub.Bytes())
	ikm, err := hkdf.Key(sha256.New, secret, auth, info, 32)
	if err != nil {
		return nil, err
	}
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	rec, err := gcm.Open(nil, nonce, body[headerLen:], nil)
	if err != nil {
		return nil, err
	}
	end := bytes.LastIndexByte(rec, 0x02)
	if end < 0 || bytes.ContainsFunc(rec[end+1:], func(r rune) bool { return r != 0 }) {
		return nil, errors.New("no last-record delimiter followed by zeros")
	}
	return rec[:end], nil
}

func TestEncryptRoundTrip(t *testing.T) {
	ua := newTestUA(t)
	sub := ua.sub("https://push.example/x")
	for _, tc := range []struct {
		name    string
		n       int
		padTo   int
		wantLen int // of the body
	}{
		{"empty", 0, 0, headerLen + 1 + tagLen},
		{"small", 100, 0, headerLen + 101 + tagLen},
		{"padded", 100, 1000, headerLen + 1001 + tagLen},
		{"pad smaller than payload", 100, 10, headerLen + 101 + tagLen},
		{"pad capped at MaxPayload", 10, 1 << 20, MaxBody},
		{"largest", MaxPayload, 0, MaxBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt := make([]byte, tc.n)
			rand.Read(pt)
			body, err := Encrypt(sub, pt, tc.padTo)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) != tc.wantLen {
				t.Fatalf("body is %d bytes, want %d", len(body), tc.wantLen)
			}
			got, err := testDecrypt(ua.key, ua.auth, body)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("decrypt: %v (equal %v)", err, bytes.Equal(got, pt))
			}
		})
	}
	// Fresh key and salt per message: the same plaintext never encrypts alike.
	a, _ := Encrypt(sub, []byte("x"), 0)
	b, _ := Encrypt(sub, []byte("x"), 0)
	if bytes.Equal(a[:headerLen], b[:headerLen]) {
		t.Fatal("two messages share salt and ephemeral key")
	}
	// A flipped bit anywhere in the record fails the tag.
	a[len(a)-20] ^= 1
	if _, err := testDecrypt(ua.key, ua.auth, a); err == nil {
		t.Fatal("tampered body decrypted")
	}
}

func TestEncryptTooLarge(t *testing.T) {
	ua := newTestUA(t)
	_, err := Encrypt(ua.sub("https://push.example/x"), make([]byte, MaxPayload+1), 0)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestSubscriptionKeysInvalid(t *testing.T) {
	ua := newTestUA(t)
	good := ua.sub("https://push.example/x")
	pub := ua.key.PublicKey().Bytes()
	offCurve := bytes.Clone(pub)
	offCurve[64] ^= 1
	compressed := append([]byte{0x02 | pub[64]&1}, pub[1:33]...)
	for _, tc := range []struct {
		name, p256dh, auth, want string
	}{
		{"p256dh not base64url", "not base64!", good.Auth, "not base64url"},
		{"p256dh standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good.P256dh) + "+/", good.Auth, "not base64url"},
		{"p256dh empty", "", good.Auth, "uncompressed"},
		{"p256dh compressed", b64.EncodeToString(compressed), good.Auth, "uncompressed"},
		{"p256dh off the curve", b64.EncodeToString(offCurve), good.Auth, "not a point on P-256"},
		{"p256dh wrong prefix", b64.EncodeToString(append([]byte{0x05}, pub[1:]...)), good.Auth, "uncompressed"},
		{"auth short", good.P256dh, b64.EncodeToString(make([]byte, 15)), "16 bytes"},
		{"auth long", good.P256dh, b64.EncodeToString(make([]byte, 32)), "16 bytes"},
		{"auth not base64url", good.P256dh, "***", "not base64url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Subscription{Endpoint: good.Endpoint, P256dh: tc.p256dh, Auth: tc.auth}
			_, err := Encrypt(s, []byte("hi"), 0)
			if tocsin.ErrorCodeOf(err) != tocsin.EInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want EInvalid with %q", err, tc.want)
			}
			if err := s.Validate(false); tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
				t.Fatalf("Validate = %v, want EInvalid", err)
			}
		})
	}
	// Padding as browsers' toJSON never gives but some stores add is tolerated.
	padded := Subscription{Endpoint: good.Endpoint, P256dh: good.P256dh + "=", Auth: good.Auth + "=="}
	if err := padded.Validate(false); err != nil {
		t.Fatalf("padded keys: %v", err)
	}
}

// TestEncryptHTTPECE decrypts Encrypt's output with the npm http_ece package, an
// implementation that shares no code with this one (installed by .ci/run).
func TestEncryptHTTPECE(t *testing.T) {
	node := testenv.Program(t, "TOCSIN_TEST_NODE", "node")
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "http_ece")); err != nil {
		testenv.Need(t, "webpush/testdata/node/node_modules", "npm http_ece", "run: npm install --prefix webpush/testdata/node")
	}
	ua := newTestUA(t)
	sub := ua.sub("https://push.example/x")
	uaPriv := b64.EncodeToString(ua.key.Bytes())
	for _, tc := range []struct {
		name  string
		pt    []byte
		padTo int
	}{
		{"text", []byte(`{"type":"notification","notification":{"title":"Hej — ✓"}}`), 0},
		{"padded", []byte("short"), 512},
		{"largest", bytes.Repeat([]byte{0xA5}, MaxPayload), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := Encrypt(sub, tc.pt, tc.padTo)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := json.Marshal(map[string]string{"body": b64.EncodeToString(body), "uaPrivate": uaPriv, "auth": sub.Auth})
			cmd := exec.Command(node, filepath.Join(dir, "decrypt.mjs"))
			cmd.Dir = dir
			cmd.Stdin = bytes.NewReader(in)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("http_ece decrypt: %v: %s", err, stderr.String())
			}
			if got := mustB64(t, string(out)); !bytes.Equal(got, tc.pt) {
				t.Fatalf("http_ece decrypted %d bytes %q..., want %d bytes", len(got), got[:min(len(got), 20)], len(tc.pt))
			}
		})
	}
	// And the RFC's own body, so the script is known to check what it should.
	in, _ := json.Marshal(map[string]string{"body": rfcBody, "uaPrivate": rfcUAPrivate, "auth": rfcAuth})
	cmd := exec.Command(node, filepath.Join(dir, "decrypt.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil || string(mustB64(t, string(out))) != rfcPlaintext {
		t.Fatalf("http_ece on the RFC body: %q, %v", out, err)
	}
}

func BenchmarkEncrypt(b *testing.B) {
	k, _ := ecdh.P256().GenerateKey(rand.Reader)
	auth := make([]byte, 16)
	sub := Subscription{P256dh: b64.EncodeToString(k.PublicKey().Bytes()), Auth: b64.EncodeToString(auth)}
	pt := bytes.Repeat([]byte("x"), 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encrypt(sub, pt, 0); err != nil {
			b.Fatal(err)
		}
	}
}
