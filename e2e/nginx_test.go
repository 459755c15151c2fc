package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin/internal/testenv"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNginx runs nginx with docs/deploy/nginx.conf, changed only in the listen
// address and the upstream address, in front of upstream. It returns nginx's URL.
func startNginx(t *testing.T, upstream string) string {
	t.Helper()
	bin := testenv.Nginx(t)
	doc, err := os.ReadFile("../docs/deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	site := string(doc)
	for old, new := range map[string]string{"server 127.0.0.1:8080;": "server " + upstream + ";", "listen 80;": "listen " + listen + ";"} {
		if !strings.Contains(site, old) {
			t.Fatalf("docs/deploy/nginx.conf no longer holds %q", old)
		}
		site = strings.Replace(site, old, new, 1)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`daemon off;
master_process off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, site)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", confFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if log, _ := os.ReadFile(filepath.Join(dir, "error.log")); len(log) > 0 && t.Failed() {
			t.Logf("nginx error.log:\n%s", log)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not start listening")
		}
	}
	return "http://" + listen
}

// TestBehindNginx proves the documented nginx config passes SSE and WebSocket
// through unbuffered: each event arrives before the next is published, heartbeats
// arrive, and resume works through the proxy.
func TestBehindNginx(t *testing.T) {
	t.Parallel()
	direct := startNode(t, "--heartbeat", "300ms")
	proxied := *direct
	proxied.URL = startNginx(t, strings.TrimPrefix(direct.URL, "http://"))
	n := &proxied
	tok := userToken(t, "ngx")

	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	if s.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("through nginx: Content-Type %q", s.resp.Header.Get("Content-Type"))
	}
	s.expect("init")
	var last string
	for i := range 3 {
		pub := n.publish("ngx", map[string]any{"title": fmt.Sprint("through nginx ", i)})
		// Unbuffered: this event arrives before the next one is published.
		ev := s.expect("notification")
		if decode[notification](t, ev.Data).ID != pub.ID {
			t.Fatalf("event %d: %s", i, ev.Data)
		}
		s.expect("unread")
		last = ev.ID
	}
	// A heartbeat comment gets through on an idle stream.
	for deadline := time.Now().Add(3 * time.Second); ; {
		ev := s.next(3 * time.Second)
		if isComment(ev) && strings.Contains(commentText(ev), "heartbeat") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat through nginx")
		}
	}
	s.close()

	missed := n.publish("ngx", map[string]any{"title": "missed"})
	s2 := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok, "Last-Event-ID", last)
	if got := decode[notification](t, s2.expect("notification").Data); got.ID != missed.ID {
		t.Fatalf("resume through nginx: %s, want %s", got.ID, missed.ID)
	}

	ws := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
	ws.expect("init")
	pub := n.publish("ngx", map[string]any{"title": "ws through nginx"})
	if f := ws.expect("notification"); decode[notification](t, string(f.Data)).ID != pub.ID {
		t.Fatalf("ws frame %s", f.raw)
	}
	ws.expect("unread")
	ws.send(`{"type":"ping"}`)
	ws.expect("pong")
}
