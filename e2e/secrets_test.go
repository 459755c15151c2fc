package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWeakSecretsRefuseToStart: tocsin serve exits non-zero, saying what to do,
// when the HS256 secret is shorter than 32 bytes (RFC 7518 §3.2) or an API key
// shorter than 16 characters, whether it comes from a flag, the environment or a
// secret file in the data dir; the secrets it generates itself pass.
func TestWeakSecretsRefuseToStart(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	run := func(t *testing.T, dataDir string, env []string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("serve did not exit: it started (%s)", out)
		}
		return string(out), err
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"16-byte --jwt-secret", nil, []string{"--api-key", apiKey, "--jwt-secret", "0123456789abcdef"}, []string{"--jwt-secret", "32", "openssl rand"}},
		{"31-byte TOCSIN_JWT_SECRET", []string{"TOCSIN_JWT_SECRET=" + strings.Repeat("s", 31)}, []string{"--api-key", apiKey}, []string{"--jwt-secret", "openssl rand"}},
		{"12-character --api-key", nil, []string{"--api-key", "tk_short_key", "--jwt-secret", jwtSecret}, []string{"--api-key", "16", "generate"}},
		{"one short key in the list", nil, []string{"--api-key", apiKey + ",tk_0123456", "--jwt-secret", jwtSecret}, []string{"--api-key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, t.TempDir(), tc.env, tc.args...)
			if err == nil {
				t.Fatalf("serve exited 0: %s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Fatalf("the refusal does not say %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("a weak secret file in the data dir", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "jwt-secret"), []byte("too-short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := run(t, dir, nil, "--api-key", apiKey)
		if err == nil || !strings.Contains(out, filepath.Join(dir, "jwt-secret")) || !strings.Contains(out, "delete the file") {
			t.Fatalf("serve with a 9-byte secret file: %v\n%s", err, out)
		}
	})
	t.Run("generated secrets pass", func(t *testing.T) {
		dir := t.TempDir()
		p := startProcArgs(t, freeAddr(t), dir)
		if r := p.node.do("GET", "/healthz", "", nil); r.Status != 200 {
			t.Fatalf("healthz: %d", r.Status)
		}
		for name, min := range map[string]int{"jwt-secret": 32, "api-key": 16} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || len(strings.TrimSpace(string(b))) < min {
				t.Fatalf("generated %s: %d bytes (%v), want at least %d", name, len(strings.TrimSpace(string(b))), err, min)
			}
		}
	})
}
