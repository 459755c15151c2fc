package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tocsin/tocsin"
)

func TestPublicKeyBase64(t *testing.T) {
	k, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	s := PublicKeyBase64(k)
	raw := mustB64(t, s)
	if len(s) != 87 || strings.ContainsAny(s, "+/=") || len(raw) != 65 || raw[0] != 0x04 {
		t.Fatalf("public key %q: want 87 base64url characters of a 65-byte uncompressed point", s)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil || !pub.Equal(&k.PublicKey) {
		t.Fatalf("public key does not round-trip: %v", err)
	}
	if PublicKeyBase64(nil) != "" {
		t.Fatal("nil key has a public key")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), nil)
	if PublicKeyBase64(p384) != "" {
		t.Fatal("P-384 key accepted")
	}
}

func TestParseVAPIDPrivateKey(t *testing.T) {
	// The RFC 8291 Appendix A application server key: its public half is known.
	k, err := ParseVAPIDPrivateKey(rfcASPrivate)
	if err != nil {
		t.Fatal(err)
	}
	if got := PublicKeyBase64(k); got != rfcASPublic {
		t.Fatalf("public key %s, want %s", got, rfcASPublic)
	}
	if s, _ := EncodeVAPIDPrivateKey(k); s != rfcASPrivate {
		t.Fatalf("encode = %s, want %s", s, rfcASPrivate)
	}
	for _, ok := range []string{rfcASPrivate + "=", "  " + rfcASPrivate + "\n"} {
		if _, err := ParseVAPIDPrivateKey(ok); err != nil {
			t.Errorf("ParseVAPIDPrivateKey(%q): %v", ok, err)
		}
	}
	order := "_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE" // n, the P-256 group order
	for _, bad := range []struct{ in, want string }{
		{"", "32-byte"},
		{"not*base64", "not base64url"},
		{b64.EncodeToString(make([]byte, 31)), "32-byte"},
		{b64.EncodeToString(make([]byte, 33)), "32-byte"},
		{b64.EncodeToString(make([]byte, 32)), "not a valid P-256 scalar"}, // zero
		{order, "not a valid P-256 scalar"},
		{strings.Repeat("_", 43), "not a valid P-256 scalar"},
	} {
		_, err := ParseVAPIDPrivateKey(bad.in)
		if tocsin.ErrorCodeOf(err) != tocsin.EInvalid || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseVAPIDPrivateKey(%q) = %v, want EInvalid with %q", bad.in, err, bad.want)
		}
		if err != nil && bad.in != "" && strings.Contains(err.Error(), bad.in) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
}

func TestLoadOrCreateVAPIDKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vapid-private-key")
	k1, created, err := LoadOrCreateVAPIDKey(path)
	if err != nil || !created {
		t.Fatalf("first load: created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(path)
	if s, _ := EncodeVAPIDPrivateKey(k1); string(b) != s+"\n" {
		t.Fatalf("file holds %q, want the base64url scalar", b)
	}

	// A restart reuses the key (a new one would orphan every subscription), and a
	// file someone made world-readable is narrowed to its owner.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	k2, created, err := LoadOrCreateVAPIDKey(path)
	if err != nil || created || !k2.Equal(k1) {
		t.Fatalf("second load: created %v, same key %v, %v", created, k2 != nil && k2.Equal(k1), err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after load %v, want 0600", fi.Mode().Perm())
	}

	// A key given by the operator in the file (web-push's format) is used as is.
	given := filepath.Join(t.TempDir(), "given")
	os.WriteFile(given, []byte(rfcASPrivate+"\n"), 0o600)
	k3, created, err := LoadOrCreateVAPIDKey(given)
	if err != nil || created || PublicKeyBase64(k3) != rfcASPublic {
		t.Fatalf("given key: created %v, %v", created, err)
	}

	// A damaged file is an error, never replaced.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("garbage\n"), 0o600)
	if _, _, err := LoadOrCreateVAPIDKey(bad); err == nil || !strings.Contains(err.Error(), "invalidate") {
		t.Fatalf("damaged file: %v", err)
	}
	if b, _ := os.ReadFile(bad); string(b) != "garbage\n" {
		t.Fatal("damaged file was overwritten")
	}

	// An empty file (created, then a crash before the write) is replaced.
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if k, created, err := LoadOrCreateVAPIDKey(empty); err != nil || !created || k == nil {
		t.Fatalf("empty file: created %v, %v", created, err)
	}

	// A directory that cannot be written is an error, not a key in memory only.
	if os.Geteuid() != 0 {
		ro := t.TempDir()
		os.Chmod(ro, 0o500)
		t.Cleanup(func() { os.Chmod(ro, 0o700) })
		if _, _, err := LoadOrCreateVAPIDKey(filepath.Join(ro, "k")); err == nil {
			t.Fatal("created a key in a read-only directory")
		}
	}
}
