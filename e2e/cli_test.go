package e2e

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestCLIPublishAndListen: tocsin listen tails a user's stream while tocsin publish
// sends to it, with flags and with JSON on stdin.
func TestCLIPublishAndListen(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	t.Parallel()
	p := startProc(t, freeAddr(t), t.TempDir())
	env := []string{"TOCSIN_URL=" + p.URL, "TOCSIN_API_KEY=" + apiKey, "TOCSIN_JWT_SECRET=" + jwtSecret}
	listen := exec.Command(binary(t), "listen", "--user", "cli", "--json")
	listen.Env = append(listen.Environ(), env...)
	out, err := listen.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listen.Process.Kill(); _ = listen.Wait() })
	lines := make(chan map[string]json.RawMessage, 16)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	next := func(event string) map[string]json.RawMessage {
		t.Helper()
		for {
			select {
			case m := <-lines:
				if string(m["event"]) == `"`+event+`"` {
					return m
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("listen printed no %s", event)
			}
		}
	}
	next("init")

	pub := exec.Command(binary(t), "publish", "--user", "cli", "--title", "from flags", "--tags", "a,b", "--priority", "4")
	pub.Env = append(pub.Environ(), env...)
	if b, err := pub.CombinedOutput(); err != nil || !strings.Contains(string(b), `"title":"from flags"`) {
		t.Fatalf("publish: %v %s", err, b)
	}
	if m := next("notification"); !strings.Contains(string(m["data"]), `"priority":4`) || !strings.Contains(string(m["data"]), `"tags":["a","b"]`) {
		t.Fatalf("listen: %s", m["data"])
	}
	stdin := exec.Command(binary(t), "publish", "--json")
	stdin.Env = append(stdin.Environ(), env...)
	stdin.Stdin = strings.NewReader(`{"userId":"cli","title":"from stdin"}`)
	if b, err := stdin.CombinedOutput(); err != nil {
		t.Fatalf("publish --json: %v %s", err, b)
	}
	if m := next("notification"); !strings.Contains(string(m["data"]), `"title":"from stdin"`) {
		t.Fatalf("listen: %s", m["data"])
	}
	bad := exec.Command(binary(t), "publish", "--user", "cli", "--priority", "9")
	bad.Env = append(bad.Environ(), env...)
	if b, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(b), "priority") {
		t.Fatalf("a bad publish succeeded or said nothing useful: %s", b)
	}
}
