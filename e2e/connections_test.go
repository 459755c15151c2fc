package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rawConn dials the node and writes req as is.
func (n *node) rawConn(req string) net.Conn {
	n.t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(n.URL, "http://"), 5*time.Second)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(func() { c.Close() })
	if req != "" {
		if _, err := io.WriteString(c, req); err != nil {
			n.t.Fatal(err)
		}
	}
	return c
}

// closedBy reads c until the server closes it (EOF or a reset), failing the test if
// it is still open at deadline; it returns what the server wrote.
func closedBy(t *testing.T, c net.Conn, deadline time.Time) string {
	t.Helper()
	c.SetReadDeadline(deadline)
	b, err := io.ReadAll(c)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open at the deadline; it had answered %q", b)
	}
	return string(b)
}

// TestSilentBodiesAreCutOff: connections that announce a body and never send it (or
// never finish their headers, or trickle the body) are closed once --read-timeout
// has passed, and the server's goroutines come back down; a request refused before
// its body is read (no credentials) is answered at once and closed, not drained.
//
// Not parallel: it counts the process's goroutines (the node runs in-process), so no
// other test may start or stop any meanwhile.
func TestSilentBodiesAreCutOff(t *testing.T) {
	const (
		readTimeout = 2 * time.Second
		perKind     = 150
	)
	// One address sends 150 anonymous requests on purpose: no guess limit (--auth-failure-limit).
	n := startNode(t, "--read-timeout", readTimeout.String(), "--rate-publish", "0", "--max-conns-per-ip", "0", "--auth-failure-limit", "0")
	if r := n.do("GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz: %d", r.Status)
	}
	http.DefaultClient.CloseIdleConnections()
	base := settledGoroutines()

	const head = "POST /api/notifications HTTP/1.1\r\nHost: tocsin\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n"
	start := time.Now()
	var authed, anonymous, unfinished, trickled []net.Conn
	for range perKind {
		authed = append(authed, n.rawConn(head+"Authorization: Bearer "+apiKey+"\r\n\r\n"))
		anonymous = append(anonymous, n.rawConn(head+"\r\n"))
		unfinished = append(unfinished, n.rawConn("POST /api/notifications HTTP/1.1\r\nHost: tocsin\r\n"))
	}
	for range 5 {
		trickled = append(trickled, n.rawConn(head+"Authorization: Bearer "+apiKey+"\r\n\r\n{"))
	}
	// A byte every 200ms keeps a connection busy but never finishes the body: the
	// timeout bounds the whole request, not the silence between reads.
	stopTrickle := make(chan struct{})
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopTrickle:
				return
			case <-tick.C:
				for _, c := range trickled {
					c.Write([]byte(" "))
				}
			}
		}
	}()
	defer close(stopTrickle)

	// The requests without credentials were answered at once, 401, and closed:
	// nothing waits for their bodies (net/http would otherwise read them first).
	for i, c := range anonymous {
		got := closedBy(t, c, start.Add(readTimeout*3/4))
		if !strings.HasPrefix(got, "HTTP/1.1 401") || !strings.Contains(got, "Connection: close") {
			t.Fatalf("anonymous request %d answered %q, want a 401 that closes the connection", i, got)
		}
	}
	held := runtime.NumGoroutine() - base
	if held < perKind {
		t.Fatalf("only %d goroutines above the baseline while %d connections wait: the test measures nothing", held, 3*perKind)
	}

	// The rest are closed within the read timeout (plus scheduling slack).
	deadline := start.Add(readTimeout + 2*time.Second)
	for i, c := range authed {
		got := closedBy(t, c, deadline)
		if !strings.HasPrefix(got, "HTTP/1.1 400") && got != "" {
			t.Fatalf("silent body %d: answered %q", i, got)
		}
	}
	for _, c := range append(unfinished, trickled...) {
		closedBy(t, c, deadline)
	}
	if took := time.Since(start); took < readTimeout-100*time.Millisecond {
		t.Fatalf("closed after %v, before the read timeout", took)
	}

	// Every goroutine those connections held is gone.
	var now int
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now <= base+10 {
			break
		}
	}
	if now > base+10 {
		t.Fatalf("%d goroutines, %d before the connections: the server still holds them", now, base)
	}

	// The node still serves.
	if r := n.do("GET", "/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz after: %d", r.Status)
	}
}

// settledGoroutines waits for the goroutine count to stop falling and returns it.
func settledGoroutines() int {
	prev := runtime.NumGoroutine()
	for range 40 {
		time.Sleep(50 * time.Millisecond)
		cur := runtime.NumGoroutine()
		if cur >= prev {
			return cur
		}
		prev = cur
	}
	return prev
}

// TestStreamsOutliveTheReadTimeout: the read timeout bounds a request's arrival,
// never an open stream: SSE (taken over, and over HTTP/1.0 through net/http) and
// WebSocket streams live on past it, deliver, answer commands, and a client's
// hang-up is still noticed.
func TestStreamsOutliveTheReadTimeout(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--read-timeout", "1s")
	tok := userToken(t, "rt1")
	sse := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
	sse.expect("init")
	ws := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
	ws.expect("init")
	old := n.rawConn("GET /api/notifications/stream HTTP/1.0\r\nAuthorization: Bearer " + tok + "\r\n\r\n")
	oldR := bufio.NewReader(old)
	old.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := oldR.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.0 200") {
		t.Fatalf("HTTP/1.0 stream: %q %v", line, err)
	}

	time.Sleep(2500 * time.Millisecond) // well past the read timeout

	ws.send(`{"type":"ping"}`)
	ws.expect("pong")
	n.publish("rt1", map[string]any{"title": "after the timeout"})
	if got := decode[notification](t, sse.expect("notification").Data); got.Title != "after the timeout" {
		t.Fatalf("sse: %+v", got)
	}
	ws.expect("notification")
	old.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := oldR.ReadString('\n')
		if err != nil {
			t.Fatalf("HTTP/1.0 stream ended before the notification: %v", err)
		}
		if strings.Contains(line, "after the timeout") {
			break
		}
	}

	// Hang-ups are noticed: the three streams leave the user's connections.
	sse.close()
	ws.c.CloseNow()
	old.Close()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := n.do("GET", "/api/users/rt1/connections", apiKey, nil)
		if strings.Contains(string(r.Body), `"connections":[]`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("streams still registered after their clients left: %s", r.Body)
		}
	}
}

// TestMaxConnsPerIP: one address holds at most --max-conns-per-ip connections; the
// next is refused at accept (a 429, then closed) while the others keep working, and
// a closed connection gives its place back. Trusted proxies are not counted.
func TestMaxConnsPerIP(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--max-conns-per-ip", "3")
	var held []net.Conn
	for range 3 {
		held = append(held, n.rawConn(""))
	}
	extra := n.rawConn("")
	got := closedBy(t, extra, time.Now().Add(2*time.Second))
	if got != "" && !strings.HasPrefix(got, "HTTP/1.1 429") {
		t.Fatalf("the 4th connection got %q", got)
	}
	// The three still work.
	held[0].Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	if got := closedBy(t, held[0], time.Now().Add(2*time.Second)); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Fatalf("a held connection answered %q", got)
	}
	// held[0] is closed now: its place is free again.
	var ok bool
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && !ok; time.Sleep(50 * time.Millisecond) {
		c := n.rawConn("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		ok = strings.HasPrefix(closedBy(t, c, time.Now().Add(2*time.Second)), "HTTP/1.1 200")
	}
	if !ok {
		t.Fatal("a closed connection did not give its place back")
	}

	t.Run("trusted proxies are not counted", func(t *testing.T) {
		t.Parallel()
		p := startNode(t, "--max-conns-per-ip", "2", "--trusted-proxies", "127.0.0.1/32")
		for range 4 {
			p.rawConn("")
		}
		c := p.rawConn("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if got := closedBy(t, c, time.Now().Add(2*time.Second)); !strings.HasPrefix(got, "HTTP/1.1 200") {
			t.Fatalf("through the proxy: %q", got)
		}
	})
}

// TestTLSStreamsOutliveTheReadTimeout: under TLS, an SSE stream over HTTP/1.1 (taken
// over; its hang-up is watched by a reading goroutine) and one over HTTP/2 (net/http's
// path) live on past --read-timeout, and their clients' hang-ups are noticed.
func TestTLSStreamsOutliveTheReadTimeout(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	n := startNode(t, "--tls-cert", certFile, "--tls-key", keyFile, "--read-timeout", "1s")
	tok := userToken(t, "rt-tls")
	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer h1.CloseIdleConnections()
	defer h2.CloseIdleConnections()
	var streams []*stream
	for _, tr := range []*http.Transport{h1, h2} {
		n.client = &http.Client{Transport: tr}
		s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
		s.expect("init")
		streams = append(streams, s)
	}
	if streams[0].resp.ProtoMajor != 1 || streams[1].resp.ProtoMajor != 2 {
		t.Fatalf("protocols %s and %s, want HTTP/1.1 and HTTP/2", streams[0].resp.Proto, streams[1].resp.Proto)
	}
	time.Sleep(2500 * time.Millisecond)
	n.publish("rt-tls", map[string]any{"title": "after the timeout"})
	for _, s := range streams {
		if got := decode[notification](t, s.expect("notification").Data); got.Title != "after the timeout" {
			t.Fatalf("%s: %+v", s.resp.Proto, got)
		}
		s.close()
	}
	h1.CloseIdleConnections()
	h2.CloseIdleConnections()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := n.do("GET", "/api/users/rt-tls/connections", apiKey, nil)
		if strings.Contains(string(r.Body), `"connections":[]`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("streams still registered after their clients left: %s", r.Body)
		}
	}
}
