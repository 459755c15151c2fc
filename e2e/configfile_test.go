package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeConfigFile runs the real binary with a YAML --config file (a new one,
// and one in the older line format that is not YAML) and checks that what only
// the file sets takes effect: the API key that alone is accepted, and the
// heartbeat an idle stream gets.
func TestServeConfigFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	const fileKey = "tk_from_the_file_0123456789"
	for name, text := range map[string]string{
		"yaml": "# tocsin.yaml\napi-key: [" + fileKey + "]\njwt-secret: '" + jwtSecret + "'\nheartbeat: 1s   # only the file sets it\n",
		"old":  "api-key = " + fileKey + "\njwt-secret: \"" + jwtSecret + "\"\nheartbeat: 1s\ncors-origins: *\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "tocsin.conf")
			if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			p := startProcArgs(t, freeAddr(t), t.TempDir(), "--config", file)
			body := map[string]any{"userId": "cfg", "title": "t"}
			if r := p.node.do("POST", "/api/notifications", apiKey, body); r.Status != http.StatusUnauthorized {
				t.Fatalf("a key the file does not list: %d %s", r.Status, r.Body)
			}
			if r := p.node.do("POST", "/api/notifications", fileKey, body); r.Status != http.StatusCreated {
				t.Fatalf("the file's key: %d %s", r.Status, r.Body)
			}
			s := p.node.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "cfg"))
			defer s.close()
			s.expect("init")
			start := time.Now()
			for {
				ev := s.next(5 * time.Second)
				if isComment(ev) && strings.Contains(commentText(ev), "heartbeat") {
					break
				}
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Fatalf("first heartbeat after %v: the file's heartbeat: 1s was not applied", d)
			}
		})
	}
}

// TestServePrintConfig: tocsin serve --print-config prints the merged configuration
// without serving, secrets masked, and its output starts a server as a config file
// once the secrets are given back by environment.
func TestServePrintConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "tocsin.yaml")
	if err := os.WriteFile(file, []byte("heartbeat: 1s\napi-key: "+apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(binary(t), "serve", "--config", file, "--print-config", "--addr", addr, "--data-dir", dir)
	cmd.Env = append(os.Environ(), "TOCSIN_JWT_SECRET="+jwtSecret)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	for _, want := range []string{"heartbeat: 1s  # from " + file, "jwt-secret: '***'  # from env TOCSIN_JWT_SECRET, masked", "addr: " + addr + "  # from flag --addr"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), jwtSecret) || strings.Contains(string(out), apiKey) {
		t.Fatalf("a secret is printed:\n%s", out)
	}
	if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
		resp.Body.Close()
		t.Fatal("--print-config started a server")
	}
	printed := filepath.Join(dir, "printed.yaml")
	if err := os.WriteFile(printed, out, 0o600); err != nil {
		t.Fatal(err)
	}
	serve := exec.Command(binary(t), "serve", "--config", printed)
	serve.Env = append(os.Environ(), "TOCSIN_JWT_SECRET="+jwtSecret, "TOCSIN_API_KEY="+apiKey, "TOCSIN_LOG_LEVEL=warn")
	p := serveCmd(t, addr, serve)
	if r := p.node.do("POST", "/api/notifications", apiKey, map[string]any{"userId": "pc", "title": "t"}); r.Status != http.StatusCreated {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
}
