package config

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestSecretFileReadableByOthers: a config file holding a secret that other users
// of the machine can read is warned about (naming the file, never the secret); one
// without secrets, or kept owner-only, is not.
func TestSecretFileReadableByOthers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permission bits")
	}
	const secret = "0123456789abcdef0123456789abcdef-SECRET"
	for _, tc := range []struct {
		name, text string
		mode       os.FileMode
		warn       bool
	}{
		{"jwt secret, world readable", "jwt-secret: " + secret + "\n", 0o644, true},
		{"api key, group readable", "api-key: [" + secret + "]\n", 0o640, true},
		{"store password, world readable", "store: postgres://u:" + secret + "@db/x\n", 0o604, true},
		{"jwt secret, owner only", "jwt-secret: " + secret + "\n", 0o600, false},
		{"no secret, world readable", "heartbeat: 20s\nstore: postgres://db/x\napi-key: []\njwt-secret: \"\"\n", 0o644, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, "tocsin.yaml", tc.text)
			if err := os.Chmod(file, tc.mode); err != nil {
				t.Fatal(err)
			}
			r, err := Resolve([]string{"--config", file}, env(nil), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			w := strings.Join(r.Warnings(), "\n")
			if got := strings.Contains(w, "chmod 600"); got != tc.warn {
				t.Fatalf("warned %v, want %v: %q", got, tc.warn, w)
			}
			if tc.warn && !strings.Contains(w, file) {
				t.Fatalf("warning does not name the file: %q", w)
			}
			if strings.Contains(w, "SECRET") {
				t.Fatalf("warning shows the secret: %q", w)
			}
		})
	}
}
