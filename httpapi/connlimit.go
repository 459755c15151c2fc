package httpapi

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin/internal/clientip"
)

// Connections per client address (--max-conns-per-ip).
//
// Every open connection costs the server a goroutine and buffers while it reads a
// request, whatever the request turns out to be; one address opening thousands of
// them, unauthenticated, could take the node's memory and file descriptors before any
// handler, rate or slot is reached. So the listener counts the open connections of
// each client address (an IPv4 address, or an IPv6 /64) and closes a connection past
// the cap at accept, before anything is read from it. On plain HTTP it first writes
// a 429 with Retry-After, so a client sees why (best effort: the client may have sent
// its request already, and may see the connection reset instead); under TLS it is
// simply closed. The count is given back when the connection closes, however it
// ends (an answered request, a taken-over stream, a timeout).
//
// The listener sees only the peer, so the trusted proxies (--trusted-proxies) are
// not counted at all: behind a proxy every client comes from it, and the per-address
// stream cap (which reads X-Forwarded-For) is what tells those clients apart.

// LimitConns wraps ln so that each client address holds at most max connections at
// once; max <= 0 returns ln. plainHTTP says whether a refused connection may be
// answered with an HTTP 429 (not under TLS).
func LimitConns(ln net.Listener, max int, proxies clientip.Proxies, plainHTTP bool, log *slog.Logger) net.Listener {
	if max <= 0 {
		return ln
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &connLimiter{Listener: ln, max: max, proxies: proxies, log: log, open: map[string]int{}}
	if plainHTTP {
		body := `{"error":{"code":"rate_limited","message":"too many connections from your address (at most ` + strconv.Itoa(max) + `); close some and retry"}}` + "\n"
		l.refusal = []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n" +
			"Retry-After: 5\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	return l
}

type connLimiter struct {
	net.Listener
	max     int
	proxies clientip.Proxies
	log     *slog.Logger
	refusal []byte // the 429 written to a refused connection; nil under TLS

	mu       sync.Mutex
	open     map[string]int // open connections per address key
	refused  int            // refused since the last warning
	lastWarn time.Time
}

// refusalLogEvery bounds the warnings about refused connections.
const refusalLogEvery = time.Minute

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a := clientip.ParseAddr(c.RemoteAddr().String())
		key := clientip.Key(a)
		if key == "" || l.proxies.Trusts(a) {
			return c, nil
		}
		if l.acquire(key) {
			return l.wrap(c, key), nil
		}
		l.refuse(c, a.String())
	}
}

func (l *connLimiter) acquire(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.max {
		return false
	}
	l.open[key]++
	return true
}

func (l *connLimiter) release(key string) {
	l.mu.Lock()
	if l.open[key] <= 1 {
		delete(l.open, key)
	} else {
		l.open[key]--
	}
	l.mu.Unlock()
}

// refuse closes a connection past the cap (after a 429 on plain HTTP). A fresh
// socket's send buffer takes the answer at once; the deadline only makes sure the
// accept loop never waits on it.
func (l *connLimiter) refuse(c net.Conn, addr string) {
	if l.refusal != nil {
		_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = c.Write(l.refusal)
	}
	_ = c.Close()
	l.mu.Lock()
	l.refused++
	warn := time.Since(l.lastWarn) >= refusalLogEvery
	n := l.refused
	if warn {
		l.lastWarn, l.refused = time.Now(), 0
	}
	l.mu.Unlock()
	if warn {
		l.log.Warn("connections refused: a client address is at --max-conns-per-ip",
			"client", addr, "max", l.max, "refused", n)
	}
}

// wrap gives the count back when the connection closes. A TCP connection stays a
// *net.TCPConn underneath (embedded): the stream writers reach its file descriptor
// (syscall.Conn) for the shared hang-up watcher and non-blocking writes.
func (l *connLimiter) wrap(c net.Conn, key string) net.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		return &limitedTCPConn{TCPConn: tc, l: l, key: key}
	}
	return &limitedConn{Conn: c, l: l, key: key}
}

type limitedTCPConn struct {
	*net.TCPConn
	l      *connLimiter
	key    string
	closed atomic.Bool
}

func (c *limitedTCPConn) Close() error {
	if !c.closed.Swap(true) {
		c.l.release(c.key)
	}
	return c.TCPConn.Close()
}

type limitedConn struct {
	net.Conn
	l      *connLimiter
	key    string
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	if !c.closed.Swap(true) {
		c.l.release(c.key)
	}
	return c.Conn.Close()
}
