package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tocsin/tocsin"
)

// Taking an HTTP/1.1 connection over for an SSE stream.
//
// Through net/http, every open stream keeps a 4 KiB read buffer, a 4 KiB write buffer
// and a chunk writer's buffer, the request's parsed state, and a goroutine parked in
// Read to notice the client leaving: about 40 KiB of server memory per idle stream.
// So an SSE stream takes its connection over (Hijack) before writing anything, and
// the handler returns at once, freeing all of that; the stream goes on in a goroutine
// of its own (small: it grows only while it works, and the GC shrinks it back),
// writes the chunked framing itself (one writev per write cycle, straight from the
// shared encodings), and leaves noticing the client's hang-up to one epoll watcher
// shared by all connections (closewatch_linux.go).
//
// HTTP/2 streams cannot be taken over and keep the plain path.

var crlf = []byte("\r\n")

// takeOver hijacks an HTTP/1.1 connection for an SSE stream, before anything is
// written, and returns it with the response header lines the middleware set (CORS);
// ok is false when the connection cannot be taken over (HTTP/2, a writer that cannot
// hijack), and the caller goes on with net/http. The handler must return soon after:
// that frees net/http's buffers and goroutine for this connection.
func takeOver(w http.ResponseWriter, r *http.Request, rc *http.ResponseController) (net.Conn, []byte, bool) {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		return nil, nil, false
	}
	var lines []byte
	for k, vs := range w.Header() {
		for _, v := range vs {
			lines = append(append(append(append(lines, k...), ": "...), v...), crlf...)
		}
	}
	conn, _, err := rc.Hijack() // SSE clients send nothing more: the read buffer goes too
	if err != nil {
		return nil, nil, false
	}
	return conn, lines, true
}

// watchHangUp calls gone when conn's client hangs up; call the returned stop before
// closing conn.
func watchHangUp(conn net.Conn, gone func()) (stop func()) {
	if stop, ok := watcher.watch(conn, gone); ok {
		return stop
	}
	// No shared watcher on this platform: a small goroutine waits for the hang-up.
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReaderSize(conn, 16))
		select {
		case <-done:
		default:
			gone()
		}
	}()
	return func() { close(done) }
}

// writeRawError answers on a taken-over connection whose stream failed before it
// started (429, 503): a complete JSON error response, as writeError would.
func writeRawError(conn net.Conn, lines []byte, err error) {
	code := tocsin.ErrorCodeOf(err)
	var body errorBody
	body.Error.Code, body.Error.Message = code, tocsin.ErrorMessageOf(err)
	b, _ := json.Marshal(body)
	b = append(b, '\n')
	status := statusOf(code)
	head := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	head = append(head, lines...)
	head = append(head, "Content-Type: application/json\r\nCache-Control: no-store\r\n"...)
	if code == tocsin.ETooMany || code == tocsin.EUnavailable {
		head = append(head, "Retry-After: 1\r\n"...)
	}
	head = fmt.Appendf(head, "Content-Length: %d\r\nConnection: close\r\n\r\n", len(b))
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = (&net.Buffers{head, b}).WriteTo(conn)
}

// rawStream writes chunked SSE frames to a taken-over connection. Frames of one write
// cycle are kept as references (the shared encodings are immutable) and sent in one
// writev at flush.
type rawStream struct {
	conn    net.Conn
	timeout time.Duration
	// head holds the response's header lines until the first write sends the head;
	// first is the first chunk (the retry hint).
	head    []byte
	first   []byte
	started bool
	bufs    net.Buffers // pending: chunk header, frame, CRLF, ...
	hdrs    []byte      // backing store of this cycle's chunk headers
	pending int
	stop    func()
}

// flushAt bounds what one cycle keeps before writing (a long replay).
const flushAt = 64 << 10

func (s *rawStream) write(b []byte) error {
	if !s.started {
		s.started = true
		h := make([]byte, 0, len(s.head)+160)
		h = append(h, "HTTP/1.1 200 OK\r\n"...)
		h = append(h, s.head...)
		h = append(h, "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n"...)
		h = append(h, "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"...)
		s.bufs, s.head = append(s.bufs, h), nil
		if err := s.write(s.first); err != nil {
			return err
		}
	}
	if len(b) == 0 {
		return nil
	}
	start := len(s.hdrs)
	s.hdrs = strconv.AppendInt(s.hdrs, int64(len(b)), 16)
	s.hdrs = append(s.hdrs, crlf...)
	s.bufs = append(s.bufs, s.hdrs[start:len(s.hdrs):len(s.hdrs)], b, crlf)
	s.pending += len(b)
	if s.pending >= flushAt {
		return s.flush()
	}
	return nil
}

func (s *rawStream) flush() error {
	if len(s.bufs) == 0 {
		return nil
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return err
	}
	v := s.bufs
	_, err := v.WriteTo(s.conn)
	clear(s.bufs)
	s.bufs, s.hdrs, s.pending = s.bufs[:0], s.hdrs[:0], 0
	if cap(s.bufs) > 48 {
		s.bufs, s.hdrs = nil, nil // give back what a burst grew
	}
	return err
}

// close ends the response (the last chunk) and the connection.
func (s *rawStream) close() {
	if s.stop != nil {
		s.stop()
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = s.conn.Write([]byte("0\r\n\r\n"))
	_ = s.conn.Close()
}
