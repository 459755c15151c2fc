package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin/tocsin/internal/testcert"
	"github.com/tocsin/tocsin/sse"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and
// a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	cert, pool := testcert.New(t)
	kder, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

// TestHTTP2ManyStreamsOneConnection: with --tls-cert/--tls-key, ten SSE streams of
// one client share one HTTP/2 connection and all receive each event.
func TestHTTP2ManyStreamsOneConnection(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	n := startNode(t, "--tls-cert", certFile, "--tls-key", keyFile)
	var dials atomic.Int32
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	tok := userToken(t, "h2")

	const streams = 10
	decoders := make([]*sse.Decoder, streams)
	for i := range streams {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+"/api/notifications/stream", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("stream %d: %d over %s, want 200 over HTTP/2", i, resp.StatusCode, resp.Proto)
		}
		decoders[i] = sse.NewDecoder(bufio.NewReader(resp.Body))
		if ev, err := nextNamed(decoders[i]); err != nil || ev.Name != "init" {
			t.Fatalf("stream %d: first event %+v %v", i, ev, err)
		}
	}
	if d := dials.Load(); d != 1 {
		t.Fatalf("%d streams took %d connections, want 1", streams, d)
	}
	// Publish over the same client (and connection) while the streams are open.
	n.client = client
	n.publish("h2", map[string]any{"title": "to all tabs"})
	for i, dec := range decoders {
		got := make(chan error, 1)
		go func() {
			ev, err := nextNamed(dec)
			if err == nil && ev.Name != "notification" {
				err = &unexpected{ev.Name}
			}
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("stream %d: %v", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("stream %d: no notification", i)
		}
	}
}

// nextNamed skips the retry hint and comments.
func nextNamed(dec *sse.Decoder) (sse.Event, error) {
	for {
		ev, err := dec.Next()
		if err != nil || ev.Name != "" {
			return ev, err
		}
	}
}

type unexpected struct{ name string }

func (u *unexpected) Error() string { return "unexpected event " + u.name }

// TestTLSHTTP1Stream: an HTTP/1.1 client over TLS gets the taken-over stream (the
// connection is a tls.Conn, watched for hang-ups by a small reader).
func TestTLSHTTP1Stream(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	n := startNode(t, "--tls-cert", certFile, "--tls-key", keyFile)
	n.client = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}},
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
	}}
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "t1"))
	if s.resp.ProtoMajor != 1 {
		t.Fatalf("proto %s, want HTTP/1.1", s.resp.Proto)
	}
	s.expect("init")
	pub := n.publish("t1", nil)
	if got := decode[notification](t, s.expect("notification").Data); got.ID != pub.ID {
		t.Fatalf("got %s", got.ID)
	}
	s.close()
	// The hang-up is noticed: the slot frees up.
	for deadline := time.Now().Add(5 * time.Second); n.app.Hub().OpenStreams() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still open after the client left", n.app.Hub().OpenStreams())
		}
	}
}

// TestHangUpFreesTheSlot: a plain HTTP/1.1 client leaving is noticed at once (the
// shared epoll watcher), not at the next heartbeat.
func TestHangUpFreesTheSlot(t *testing.T) {
	t.Parallel()
	n := startNode(t, "--heartbeat", "1h")
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "h1"))
	s.expect("init")
	if n.app.Hub().OpenStreams() != 1 {
		t.Fatalf("open streams %d", n.app.Hub().OpenStreams())
	}
	s.close()
	for deadline := time.Now().Add(5 * time.Second); n.app.Hub().OpenStreams() != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream stayed registered after the client hung up")
		}
	}
}
