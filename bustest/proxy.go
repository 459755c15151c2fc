package bustest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// Proxy stands between buses and their server so a test can cut the connections at
// once, as a network fault or a server restart would, and let them reconnect: it
// relays TCP to the server, and Cut closes every connection it relays while still
// accepting new ones.
type Proxy struct {
	ln     net.Listener
	target string
	u      *url.URL

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewProxy relays to the host of the server URL rawURL (redis://host:port/0,
// nats://host:port) until the test ends.
func NewProxy(t *testing.T, rawURL string) *Proxy {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: u.Host, u: u, conns: map[net.Conn]struct{}{}}
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
	})
	return p
}

// URL is the server URL with the proxy in the server's place.
func (p *Proxy) URL() string {
	u := *p.u
	u.Host = p.ln.Addr().String()
	return u.String()
}

// Cut closes every connection relayed so far.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed at the test's end
		}
		go p.relay(c)
	}
}

func (p *Proxy) relay(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done // either side ends: end both
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}
