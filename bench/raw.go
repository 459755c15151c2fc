package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Lean SSE readers.
//
// The load generator runs on the same two cores as the server, so whatever a stream
// reader costs on the client side is taken from the server. Through net/http each
// stream had a transport readLoop goroutine, a body pipe and a scanner goroutine: two
// goroutine wake-ups per delivered event and two copies. A rawStream is one TCP
// connection with a hand-written GET, read by one goroutine straight from the socket
// into a small buffer, de-chunked in place: one wake-up and no copy beyond the
// de-chunking memmove per event.

// nextSource picks the next 127.0.0.x source address; shared by every dialer in the
// process so concurrent clients spread over the same range instead of all starting at
// 127.0.0.1.
var nextSource atomic.Uint32

// dialLoopback dials addr from the next of 250×250 loopback source addresses when
// addr is a loopback IPv4 address: each source address has its own ephemeral port
// range, so tens of thousands of connections do not exhaust one address's ports.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, _ := net.SplitHostPort(addr)
	d := net.Dialer{Timeout: 10 * time.Second}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil {
		n := nextSource.Add(1)
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, byte(n/250%250), byte(1+n%250))}
	}
	return d.DialContext(ctx, network, addr)
}

const (
	// streamBuf is a stream reader's initial buffer: several notification frames fit.
	streamBuf = 2 << 10
	// maxStreamBuf bounds how far a buffer grows for a consumer that needs a whole
	// frame (the reconnect-storm follower) when one frame is longer than the buffer.
	maxStreamBuf = 1 << 20
	// headTimeout bounds the dial, the request and the response head.
	headTimeout = 30 * time.Second
)

// errFraming is a response the reader cannot parse: a bug on one side or the other,
// counted as an error, unlike a connection that simply ends.
var errFraming = errors.New("stream framing")

// rawStream is one SSE response on its own TCP connection.
//
// buf holds, in order: [0:p) de-chunked payload the consumer has not consumed yet
// (the tail of a frame or number split across reads), [r0:r1) bytes read from the
// wire and not yet de-chunked (a partial chunk-size line, say), [r1:) free. p ≤ r0
// always, since de-chunking only ever drops bytes, so it can run in place.
type rawStream struct {
	conn    net.Conn
	stop    func() bool // stops the context watcher
	buf     []byte
	p       int
	r0, r1  int
	chunked bool
	left    int  // payload bytes left in the current chunk
	crlf    int  // bytes of the CRLF after a chunk's payload still to skip
	done    bool // the last chunk was seen
}

// dialStream opens rawURL (plain HTTP/1.1 on loopback) with the given bearer token
// and extra header lines ("Name: value"), and returns once the response head said
// 200. The connection is closed when ctx ends.
func dialStream(ctx context.Context, rawURL, token string, extra ...string) (*rawStream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("stream readers speak plain HTTP/1.1, not %q", u.Scheme)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	conn, err := dialLoopback(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return startStream(ctx, conn, u, token, extra)
}

// startStream sends the request on conn and reads the response head.
func startStream(ctx context.Context, conn net.Conn, u *url.URL, token string, extra []string) (*rawStream, error) {
	s := &rawStream{conn: conn, buf: make([]byte, streamBuf)}
	// A closed connection ends a blocked Read at once; no goroutine waits for ctx.
	s.stop = context.AfterFunc(ctx, func() { conn.Close() })
	if err := s.head(u, token, extra); err != nil {
		s.close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return s, nil
}

func (s *rawStream) close() {
	s.stop()
	s.conn.Close()
}

// head writes the request and reads the response head; body bytes read with it stay
// in buf as undecoded wire bytes.
func (s *rawStream) head(u *url.URL, token string, extra []string) error {
	req := make([]byte, 0, 256)
	req = append(req, "GET "...)
	req = append(req, u.RequestURI()...)
	req = append(req, " HTTP/1.1\r\nHost: "...)
	req = append(req, u.Host...)
	req = append(req, "\r\nUser-Agent: tocsin-bench\r\nAccept: text/event-stream\r\n"...)
	if token != "" {
		req = append(append(append(req, "Authorization: Bearer "...), token...), "\r\n"...)
	}
	for _, h := range extra {
		req = append(append(req, h...), "\r\n"...)
	}
	req = append(req, "\r\n"...)
	if err := s.conn.SetDeadline(time.Now().Add(headTimeout)); err != nil {
		return err
	}
	if _, err := s.conn.Write(req); err != nil {
		return err
	}
	n, end := 0, -1
	for end < 0 {
		if n == len(s.buf) {
			return fmt.Errorf("%w: response head longer than %d bytes", errFraming, len(s.buf))
		}
		m, err := s.conn.Read(s.buf[n:])
		n += m
		if end = bytes.Index(s.buf[:n], []byte("\r\n\r\n")); end < 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("stream head: %w", err)
		}
	}
	lines := strings.Split(string(s.buf[:end]), "\r\n")
	status := lines[0]
	if f := strings.Fields(status); len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") || f[1] != "200" {
		body := s.buf[end+4 : n]
		if len(body) > 200 {
			body = body[:200]
		}
		return fmt.Errorf("stream: %s %s", status, strings.TrimSpace(string(body)))
	}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(strings.TrimSpace(k), "Transfer-Encoding") &&
			strings.Contains(strings.ToLower(v), "chunked") {
			s.chunked = true
		}
	}
	s.r1 = copy(s.buf, s.buf[end+4:n])
	// It fails only on a closed connection, which the first read reports as the end.
	_ = s.conn.SetDeadline(time.Time{})
	return nil
}

// read reads the stream until it ends, handing consume the de-chunked payload not
// consumed yet and the time it was read; consume returns how many bytes it is done
// with, and the rest is handed to it again, extended, after the next read. It
// returns nil when the stream ends (EOF, the last chunk, the connection closed) and
// an error wrapping errFraming when the framing is broken or a consumer needs more
// than maxStreamBuf at once. The connection is closed when read returns.
func (s *rawStream) read(consume func(data []byte, now time.Time) int) error {
	defer s.close()
	for {
		if err := s.dechunk(); err != nil {
			return err
		}
		n := 0
		if s.p > 0 {
			n = consume(s.buf[:s.p], time.Now())
		}
		s.compact(n)
		if s.done {
			return nil
		}
		if s.r1 == len(s.buf) {
			if len(s.buf) >= maxStreamBuf {
				return fmt.Errorf("%w: over %d bytes held unconsumed", errFraming, maxStreamBuf)
			}
			s.buf = append(s.buf, make([]byte, len(s.buf))...)
		}
		n, err := s.conn.Read(s.buf[s.r1:])
		s.r1 += n
		if err != nil && n == 0 {
			return nil // the end of the connection, ours or the server's
		}
	}
}

// compact drops the first n payload bytes, moving the rest of the payload and the
// undecoded wire bytes to the front of buf (closing the gap left by chunk headers).
func (s *rawStream) compact(n int) {
	if n == 0 && s.p == s.r0 {
		return
	}
	tail := copy(s.buf, s.buf[n:s.p])
	raw := copy(s.buf[tail:], s.buf[s.r0:s.r1])
	s.p, s.r0, s.r1 = tail, tail, tail+raw
}

// dechunk turns the wire bytes [r0:r1) into payload appended at p, in place, as far
// as they go; a partial chunk-size line stays for the next read.
func (s *rawStream) dechunk() error {
	if !s.chunked {
		// Identity body: the wire bytes are the payload, already in place after it.
		if s.r0 != s.p {
			s.r1 = s.p + copy(s.buf[s.p:], s.buf[s.r0:s.r1])
		}
		s.p, s.r0 = s.r1, s.r1
		return nil
	}
	for s.r0 < s.r1 && !s.done {
		switch {
		case s.left > 0:
			n := copy(s.buf[s.p:], s.buf[s.r0:min(s.r1, s.r0+s.left)])
			s.p, s.r0, s.left = s.p+n, s.r0+n, s.left-n
			if s.left == 0 {
				s.crlf = 2
			}
		case s.crlf > 0:
			if s.buf[s.r0] != "\r\n"[2-s.crlf] {
				return fmt.Errorf("%w: no CRLF after a chunk", errFraming)
			}
			s.r0++
			s.crlf--
		default:
			i := bytes.IndexByte(s.buf[s.r0:s.r1], '\n')
			if i < 0 {
				if s.r1-s.r0 > 80 {
					return fmt.Errorf("%w: chunk-size line too long", errFraming)
				}
				return nil // the rest of the line comes with the next read
			}
			size, err := chunkSize(s.buf[s.r0 : s.r0+i])
			if err != nil {
				return err
			}
			s.r0 += i + 1
			if size == 0 {
				s.done = true // the last chunk; trailers, if any, are not read
			}
			s.left = size
		}
	}
	return nil
}

// chunkSize parses a chunk-size line (hex digits, optional extensions after ';',
// optional CR) without allocating.
func chunkSize(line []byte) (int, error) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 || len(line) > 7 { // at most 256 MiB: plenty for SSE
		return 0, fmt.Errorf("%w: chunk size %q", errFraming, line)
	}
	n := 0
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return 0, fmt.Errorf("%w: chunk size %q", errFraming, line)
		}
	}
	return n, nil
}

var sentPattern = []byte(`"sentNs":`)

// scanSent finds every `"sentNs":<digits>` in data and calls found with each value.
// It returns how much of data it is done with: everything but a possible start of
// the pattern or of a number at the end, which must be seen again with what follows.
// So each occurrence is found exactly once, whatever the split across reads. Every
// occurrence counts, so the notifications of a notifications:batch frame count one
// by one.
func scanSent(data []byte, found func(ns int64)) int {
	pos := 0
	for {
		i := bytes.Index(data[pos:], sentPattern)
		if i < 0 {
			// Keep the last len(pattern)-1 bytes: they may start the pattern.
			return max(pos, len(data)-(len(sentPattern)-1))
		}
		start := pos + i
		j := start + len(sentPattern)
		var ns int64
		k := j
		for k < len(data) && data[k] >= '0' && data[k] <= '9' && k-j < 19 {
			ns = ns*10 + int64(data[k]-'0')
			k++
		}
		if k == len(data) {
			return start // the number may go on in the next read
		}
		if k > j {
			found(ns)
		}
		pos = k
	}
}

// scanFrames calls frame with each complete SSE frame in data (the lines before a
// blank line; this server ends lines with LF only) and returns how much of data
// they took.
func scanFrames(data []byte, frame func(f []byte)) int {
	done := 0
	for {
		i := bytes.Index(data[done:], []byte("\n\n"))
		if i < 0 {
			return done
		}
		frame(data[done : done+i])
		done += i + 2
	}
}
