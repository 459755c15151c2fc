package e2e

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin/internal/pgtest"
	"github.com/tocsin/tocsin/internal/testenv"
)

// startRedis runs a private redis-server on addr (so restarting it disturbs no
// other test) and returns a stop function that kills it.
func startRedis(t *testing.T, addr string) (stop func()) {
	t.Helper()
	bin := testenv.Program(t, "TOCSIN_TEST_REDIS_SERVER", "redis-server")
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", host, "--port", port, "--save", "", "--appendonly", "no", "--daemonize", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestRedisRestartDuringBurstLosesNothing: Redis is killed and started again while
// one node publishes a burst; every publish succeeds, and a client on the other node
// ends up with every event, in order, once the bus is back.
func TestRedisRestartDuringBurstLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs server processes")
	}
	t.Parallel()
	redisAddr := freeAddr(t)
	stop := startRedis(t, redisAddr)
	busURL := "redis://" + redisAddr + "/0"
	store := pgtest.FreshSchemaURL(t)
	a := startProc(t, freeAddr(t), t.TempDir(), "--store", store, "--bus", busURL)
	b := startProc(t, freeAddr(t), t.TempDir(), "--store", store, "--bus", busURL)
	r := follow(t, b.URL, "rr", "")
	r.waitInit()

	const total = 40
	var ids []string
	for i := range total {
		if i == 10 {
			stop() // Redis goes away mid-burst...
		}
		if i == 25 {
			stop = startRedis(t, redisAddr) // ...and comes back
		}
		ids = append(ids, publishTo(t, a.URL, "rr")) // fails the test unless 201
		time.Sleep(20 * time.Millisecond)
	}
	last := r.expectNotifications("", ids)
	// Well after the outage, live delivery across nodes works again: the publishing
	// node (which has no subscriptions of its own) noticed the bus is back.
	time.Sleep(time.Second)
	r.expectNotifications(last, []string{publishTo(t, a.URL, "rr")})
}

// pgProxy forwards TCP to PostgreSQL and can cut every connection, so a test can take
// the store away from tocsin (as a stopped server or a network partition would)
// without stopping the PostgreSQL that other tests share.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func startPGProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *pgProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestStoreOutage: with PostgreSQL unreachable, publishes get 503 with a clear error
// and /readyz says not ready; nothing is half-written; when it is back, the same
// process recovers by itself.
func TestStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	t.Parallel()
	direct, err := url.Parse(pgtest.FreshSchemaURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startPGProxy(t, direct.Host)
	viaProxy := *direct
	viaProxy.Host = proxy.ln.Addr().String()
	p := startProc(t, freeAddr(t), t.TempDir(), "--store", viaProxy.String())
	n := p.node
	before := n.publish("po", nil)

	proxy.setDown(true)
	r := n.do("POST", "/api/notifications", apiKey, map[string]any{"userId": "po", "title": "during"})
	if r.Status != http.StatusServiceUnavailable || r.errCode(t) != "unavailable" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("publish with the store down: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), viaProxy.Host) {
		t.Fatalf("the error leaks connection details: %s", r.Body)
	}
	if r := n.do("GET", "/readyz", "", nil); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the store down: %d %s", r.Status, r.Body)
	}

	proxy.setDown(false)
	var after notification
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := n.do("POST", "/api/notifications", apiKey, map[string]any{"userId": "po", "title": "after"})
		if r.Status == http.StatusCreated {
			r.json(t, &after)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %d %s", r.Status, r.Body)
		}
	}
	var page struct{ Notifications []notification }
	n.do("GET", "/api/notifications", userToken(t, "po"), nil).json(t, &page)
	if len(page.Notifications) != 2 || page.Notifications[0].ID != after.ID || page.Notifications[1].ID != before.ID {
		t.Fatalf("after recovery the inbox holds %v; want exactly the two acknowledged publishes", ids(page.Notifications))
	}
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "po"))
	if in := decode[initData](t, s.expect("init").Data); in.UnreadCount != 2 {
		t.Fatalf("init after recovery: %+v", in)
	}
}
