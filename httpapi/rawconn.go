package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
)

// Taking an HTTP/1.1 connection over for an SSE stream.
//
// Through net/http, every open stream keeps a 4 KiB read buffer, a 4 KiB write buffer
// and a chunk writer's buffer, the request's parsed state, and a goroutine parked in
// Read to notice the client leaving: about 40 KiB of server memory per idle stream.
// So an SSE stream takes its connection over (Hijack) before writing anything, and
// the handler returns at once, freeing all of that; the stream goes on in a goroutine
// of its own (small: it grows only while it works, and the GC shrinks it back),
// writes the chunked framing itself (rawSSESink, rawsink.go: one writev per write
// cycle, straight from the shared encodings), and leaves noticing the client's
// hang-up to one epoll watcher shared by all connections (closewatch_linux.go).
//
// The response is still the server's like any other: a stream the hub refuses
// after the takeover (429, 503) is answered by writeError, through rawResponse, and
// every taken-over stream records its response (access.go) when it ends.
//
// HTTP/2 streams cannot be taken over and keep the plain path (httpSSESink).

var crlf = []byte("\r\n")

// takeOver hijacks an HTTP/1.1 connection for an SSE stream, before anything is
// written, and returns it with the response header the middleware set (CORS,
// nosniff); ok is false when the connection cannot be taken over (HTTP/2, a writer
// that cannot hijack), and the caller goes on with net/http. The handler must return
// soon after: that frees net/http's buffers and goroutine for this connection.
func takeOver(w http.ResponseWriter, r *http.Request, rc *http.ResponseController) (net.Conn, http.Header, bool) {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 {
		return nil, nil, false
	}
	// The header map is the response's own (net/http makes one per request and
	// never touches it after a hijack): it is kept, not copied, until the head goes.
	header := w.Header()
	conn, _, err := rc.Hijack() // SSE clients send nothing more: the read buffer goes too
	if err != nil {
		return nil, nil, false
	}
	return conn, header, true
}

// appendHead appends an HTTP/1.1 response head: the status line, h, the blank line.
func appendHead(b []byte, status int, h http.Header) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, crlf...)
	buf := bytes.NewBuffer(b)
	_ = h.Write(buf) // sorted, values sanitised as net/http writes them
	return append(buf.Bytes(), crlf...)
}

// rawResponse is the http.ResponseWriter of a taken-over connection whose stream
// the hub refused before it started: writeError answers on it exactly as on
// net/http's writer (same body, headers and Retry-After), and send puts the whole
// response on the connection, with its length, and closes it.
type rawResponse struct {
	conn   net.Conn
	header http.Header
	status int
	body   []byte
}

func (w *rawResponse) Header() http.Header { return w.header }

func (w *rawResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *rawResponse) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// rawAnswerTimeout bounds the write of a refusal: it fits any socket buffer, so
// only a peer that reads nothing at all ever waits for it.
const rawAnswerTimeout = 5 * time.Second

func (w *rawResponse) send() {
	w.header.Set("Content-Length", strconv.Itoa(len(w.body)))
	w.header.Set("Connection", "close")
	head := appendHead(make([]byte, 0, 512), w.status, w.header)
	_ = w.conn.SetWriteDeadline(time.Now().Add(rawAnswerTimeout))
	_, _ = (&net.Buffers{head, w.body}).WriteTo(w.conn)
	_ = w.conn.Close()
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

// runRawSSE runs a stream on a taken-over connection until it ends, then closes it,
// records the response and tells s.streams. Its context is its own (the request's
// ended with the handler): the client hanging up, noticed by the shared watcher,
// cancels it. On a plain TCP connection on Linux the live phase is driven by the
// hub's workers (no goroutine per stream); elsewhere (TLS) it runs on a goroutine
// of its own. r is used only while the stream begins (a refusal is answered as the
// request's): the stream does not keep it.
func (s *Server) runRawSSE(r *http.Request, p tocsin.Principal, req hub.SubscribeRequest, sink *rawSSESink) {
	ctx, cancel := context.WithCancel(context.Background())
	var driven atomic.Pointer[hub.Stream]
	sink.stop = s.watchHangUp(sink.conn, func() {
		cancel()
		if st := driven.Load(); st != nil {
			st.Stop()
		}
	})
	rc, drivable := rawWriter(sink.conn)
	if drivable {
		sink.rc = rc // set before Begin: its flushes never wait on the socket either
	}
	st, err := s.hub.Begin(ctx, req, sink)
	if err != nil {
		cancel()
		s.failRawSSE(r, p, sink, err)
		s.streams.done()
		return
	}
	if !drivable {
		// The live phase on a fresh goroutine: this one's stack grew with the store
		// reads and encoding of the start, and an idle stream should not keep it.
		go func() {
			defer s.streams.done()
			defer cancel()
			s.endRawSSE(p, sink, st.Live(ctx))
		}()
		return
	}
	sink.setWake(st.Wake)
	driven.Store(st)
	if ctx.Err() != nil {
		st.Stop() // the client left while the stream began
	}
	st.Go(func(err error) {
		cancel()
		s.endRawSSE(p, sink, err)
		s.streams.done()
	})
}

// endRawSSE ends a taken-over stream that started: how it ended (endStream), the
// last chunk, the connection's close, and its record (200: the stream was served).
func (s *Server) endRawSSE(p tocsin.Principal, sink *rawSSESink, err error) {
	if last := s.endStream(p, err); last != nil {
		_ = sink.write(last)
		_ = sink.Flush()
	}
	sink.close()
	s.record(context.Background(), &sink.rec, http.StatusOK)
}

// failRawSSE ends a taken-over stream that failed to begin: when nothing was
// written yet, the error is answered by writeError as before a takeover.
func (s *Server) failRawSSE(r *http.Request, p tocsin.Principal, sink *rawSSESink, err error) {
	if sink.started {
		s.endRawSSE(p, sink, err)
		return
	}
	sink.stop()
	w := &rawResponse{conn: sink.conn, header: sink.header}
	s.writeError(w, r, err)
	w.send()
	s.record(r.Context(), &sink.rec, w.status)
}
