package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
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
func (s *Server) watchHangUp(conn net.Conn, gone func()) (stop func()) {
	if stop, ok := s.watcher.watch(conn, gone); ok {
		return stop
	}
	// No shared watcher on this platform (or it was stopped): a small goroutine waits
	// for the hang-up; it ends when the connection is closed.
	done := make(chan struct{})
	s.streams.goCounted(func() {
		_, _ = io.Copy(io.Discard, bufio.NewReaderSize(conn, 16))
		select {
		case <-done:
		default:
			gone()
		}
	})
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
//
// With rc set (a plain TCP connection on Linux) the stream is driven by the hub's
// workers, and flush never waits: it writes what the socket takes at once, and when
// the socket buffer is full, a goroutine of its own writes the rest with a deadline
// and then wakes the stream. Only a stream whose client is slow has that goroutine,
// and only while it is behind. Without rc, flush writes with a deadline.
type rawStream struct {
	conn    net.Conn
	rc      syscall.RawConn
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
	track   *streamSet // counts the background write (nil: not counted)

	// The background write of a flush the socket did not take whole.
	mu      sync.Mutex
	blocked bool
	werr    error
	wake    func()
	bgDone  chan struct{} // closed when the background write ends
}

// flushAt bounds what one cycle keeps before writing (a long replay).
const flushAt = 64 << 10

// maxBehind bounds what a driven stream keeps while its background write goes on
// (a catch-up from the store writes without the queue's bound); past it the client
// is too slow, and resumes by Last-Event-ID.
const maxBehind = 1 << 20

var errTooSlow = errors.New("client reads too slowly")

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
	if s.rc != nil {
		return s.flushNow()
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return err
	}
	v := s.bufs
	_, err := v.WriteTo(s.conn)
	s.reset()
	return err
}

// reset empties the cycle's buffers for reuse.
func (s *rawStream) reset() {
	clear(s.bufs)
	s.bufs, s.hdrs, s.pending = s.bufs[:0], s.hdrs[:0], 0
	if cap(s.bufs) > 48 {
		s.bufs, s.hdrs = nil, nil // give back what a burst grew
	}
}

// flushNow writes what the socket takes at once and leaves the rest to a background
// write. While one runs, nothing more is written (the hub waits for Blocked to turn
// false; what is written meanwhile at the stream's end is dropped with the
// connection).
func (s *rawStream) flushNow() error {
	s.mu.Lock()
	blocked, err, wake, bg := s.blocked, s.werr, s.wake, s.bgDone
	s.mu.Unlock()
	switch {
	case err != nil:
		return err
	case blocked && wake == nil:
		// Still beginning (a long replay), on the stream's own goroutine: wait.
		<-bg
		if _, err := s.Blocked(); err != nil {
			return err
		}
	case blocked && s.pending > maxBehind:
		return errTooSlow
	case blocked:
		return nil // kept until the background write is over
	}
	n, err := writeNow(s.rc, s.bufs)
	if err != nil {
		s.reset()
		return err
	}
	rest := s.bufs
	for len(rest) > 0 && n >= len(rest[0]) {
		n -= len(rest[0])
		rest = rest[1:]
	}
	if len(rest) == 0 {
		s.reset()
		return nil
	}
	// The rest refers to this cycle's buffers: hand them over and start afresh.
	rest = append(net.Buffers{rest[0][n:]}, rest[1:]...)
	s.bufs, s.hdrs, s.pending = nil, nil, 0
	s.mu.Lock()
	s.blocked, s.bgDone = true, make(chan struct{})
	s.mu.Unlock()
	if s.track != nil {
		s.track.goCounted(func() { s.finish(rest) })
	} else {
		go s.finish(rest)
	}
	return nil
}

// finish writes what the socket did not take, with a deadline, then wakes the stream.
func (s *rawStream) finish(rest net.Buffers) {
	err := s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	if err == nil {
		_, err = rest.WriteTo(s.conn)
	}
	s.mu.Lock()
	s.blocked, s.werr = false, err
	wake := s.wake
	close(s.bgDone)
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// Blocked reports whether a background write is going on, and how the last one
// failed.
func (s *rawStream) Blocked() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked, s.werr
}

func (s *rawStream) setWake(wake func()) {
	s.mu.Lock()
	s.wake = wake
	s.mu.Unlock()
}

// lastChunk ends a chunked response.
var lastChunk = []byte("0\r\n\r\n")

// close ends the response (the last chunk) and the connection. A driven stream's
// close never waits: the last chunk goes only if the socket takes it at once.
func (s *rawStream) close() {
	if s.stop != nil {
		s.stop()
	}
	if s.rc != nil {
		if blocked, err := s.Blocked(); !blocked && err == nil {
			_, _ = writeNow(s.rc, append(s.bufs, lastChunk))
		}
	} else {
		_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = s.conn.Write(lastChunk)
	}
	_ = s.conn.Close()
}
