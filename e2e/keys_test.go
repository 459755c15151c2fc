package e2e

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestKeysCreatedWithTheCLI: tocsin keys create makes a working API key next to the
// configured one; list shows it without the key; revoke refuses it within seconds.
func TestKeysCreatedWithTheCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	p := startProc(t, freeAddr(t), dir)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary(t), append([]string{"keys"}, args...)...).Output()
		if err != nil {
			t.Fatalf("tocsin keys %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	key := run("create", "--data-dir", dir, "--name", "ci")
	if !strings.HasPrefix(key, "tk_") {
		t.Fatalf("created %q", key)
	}
	list := run("list", "--data-dir", dir)
	if !strings.Contains(list, "ci") || strings.Contains(list, key) {
		t.Fatalf("list: %s", list)
	}
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	r := p.node.do("POST", "/api/notifications", key, map[string]any{"userId": "k", "title": "with a stored key"})
	if r.Status != http.StatusCreated {
		t.Fatalf("publish with the stored key: %d %s", r.Status, r.Body)
	}
	run("revoke", "--data-dir", dir, id)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		r := p.node.do("POST", "/api/notifications", key, map[string]any{"userId": "k", "title": "after revoking"})
		if r.Status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a revoked key still publishes: %d", r.Status)
		}
	}
	if r := p.node.do("POST", "/api/notifications", apiKey, map[string]any{"userId": "k", "title": "config key"}); r.Status != http.StatusCreated {
		t.Fatalf("the configured key stopped working: %d", r.Status)
	}
}
