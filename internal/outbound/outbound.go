// Package outbound is the one guarded HTTP client through which tocsin makes every
// request to an address a client chose (webhook endpoints now, Web Push services
// later). Such a request is a server-side request forgery risk: whoever registers
// the URL picks where the server connects from inside its network. So:
//
//   - The destination address is checked on the connection actually being made (a
//     net.Dialer Control func, after DNS resolution, before connect), so a name that
//     resolves to a private address, or that is re-bound to one between a check
//     and the dial (DNS rebinding), is refused all the same. Loopback, private,
//     link-local (the cloud metadata service), CGNAT, multicast and the like are
//     refused unless Config.AllowPrivate (see Forbidden).
//   - Redirects are never followed: a 3xx is returned as the response. Following one
//     would send a signed body to a place the endpoint's owner did not register and
//     makes the destination a second, unchecked choice of the peer.
//   - Environment proxies (HTTP_PROXY...) are ignored: through a proxy the dialed
//     address is the proxy's, and the address check would be meaningless.
//   - Every phase is bounded in time (dial, TLS handshake, response headers, the
//     whole request) and the response is bounded in size: headers by
//     MaxResponseHeaderBytes, the body by Config.MaxResponseBytes.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	DefaultUserAgent        = "tocsin"
	// MaxResponseHeaderBytes bounds the response's header block.
	MaxResponseHeaderBytes = 64 << 10
	// maxPhase bounds the dial and the TLS handshake each (or Timeout, if shorter):
	// a peer that cannot accept a connection in this long is down for our purposes.
	maxPhase = 5 * time.Second
)

// Config configures a Client. The zero value is usable: private addresses refused,
// DefaultTimeout, DefaultMaxResponseBytes, DefaultUserAgent.
type Config struct {
	// AllowPrivate lets requests reach loopback, private and the other addresses
	// Forbidden names (--webhook-allow-private: tests, single-network deployments).
	AllowPrivate bool
	// Timeout bounds a whole request: connect, send, headers and body.
	Timeout time.Duration
	// MaxResponseBytes is how much of a response body is kept; the rest is discarded.
	MaxResponseBytes int64
	// UserAgent is set on requests that carry none.
	UserAgent string
}

// Response is a completed exchange: the status, headers, and at most
// MaxResponseBytes of the body (Truncated when there was more).
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	Truncated  bool
}

// Client is safe for concurrent use; make one per process and share it, so its
// connection pool is shared.
type Client struct {
	cfg Config
	hc  *http.Client
}

// New returns a Client for cfg, with defaults filled in.
func New(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	phase := min(cfg.Timeout, maxPhase)
	allowPrivate := cfg.AllowPrivate
	dialer := &net.Dialer{
		Timeout:   phase,
		KeepAlive: 30 * time.Second,
		// Control runs for every address the dialer tries, after resolution and
		// before connect(2): the address judged is the address connected to.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: unparsable dial address %q", ErrForbiddenAddress, address)
			}
			return checkAddr(ap.Addr(), allowPrivate)
		},
	}
	tr := &http.Transport{
		// No proxy, deliberately (not http.ProxyFromEnvironment): through a proxy the
		// dialed address would be the proxy's and the address check meaningless.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext turns HTTP/2 off otherwise
		TLSHandshakeTimeout:    phase,
		ResponseHeaderTimeout:  cfg.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
	}
	return &Client{
		cfg: cfg,
		hc: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A 3xx is the answer, never followed (see the package doc).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// CheckURL is the package's CheckURL with this client's AllowPrivate.
func (c *Client) CheckURL(raw string) error { return CheckURL(raw, c.cfg.AllowPrivate) }

// Do sends req and reads its response (at most MaxResponseBytes of the body). The
// URL is checked first like CheckURL (without the length limit); a destination
// refused at dial time gives an error wrapping ErrForbiddenAddress. Any other
// error (timeout, refused or reset connection, the context's) is a transport
// failure worth retrying.
func (c *Client) Do(req *http.Request) (*Response, error) {
	if req.URL == nil {
		return nil, errors.New("outbound: request without URL")
	}
	if err := checkParsed(req.URL, c.cfg.AllowPrivate); err != nil {
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	// Closing without draining the remainder drops the connection instead of
	// reading an unbounded body to reuse it: cheaper than trusting the peer.
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	truncated := int64(len(body)) > c.cfg.MaxResponseBytes
	if truncated {
		body = body[:c.cfg.MaxResponseBytes]
	}
	out := &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body, Truncated: truncated}
	if err != nil && !truncated {
		// The status and headers arrived; the body broke off. The caller gets both:
		// a status to judge and the error that says the exchange was incomplete.
		return out, fmt.Errorf("outbound: reading response body: %w", err)
	}
	return out, nil
}

// IsTimeout reports whether err is a timeout (the client's, a phase's, or the
// context deadline).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
