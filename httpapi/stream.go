package httpapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/sse"
)

// encodeSSE is the one encoding of a delivery for every SSE connection: the event
// frame and, when it changed the unread count, the "unread" frame (no id line).
func encodeSSE(d *hub.Delivery) []byte {
	b := sse.AppendEvent(make([]byte, 0, len(d.Event.Data)+len(d.ID)+len(d.Event.Name)+48), d.ID, d.Event.Name, d.Event.Data)
	if d.Event.Unread != tocsin.UnreadUnchanged {
		b = sse.AppendEvent(b, "", tocsin.EventUnread, unreadJSON(d.Event.Unread))
	}
	return b
}

func unreadJSON(n int) []byte {
	b := append(make([]byte, 0, 24), `{"unreadCount":`...)
	b = appendInt(b, n)
	return append(b, '}')
}

func appendInt(b []byte, n int) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// sseSink writes one connection's SSE frames. Headers and the retry hint go out with
// the first frame, so an error found before it (429, 503) can still be a JSON answer.
// Each write cycle gets a fresh write deadline: a client that stops reading is cut
// off instead of holding the goroutine.
type sseSink struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	retry    time.Duration
	timeout  time.Duration
	started  bool
	deadline bool // a deadline is set for the current write cycle
	scratch  []byte

	// encode and slot, when set, replace the standard event framing (capability
	// streams frame events without names).
	encode func(*hub.Delivery) []byte
	slot   hub.Encoding

	// raw, when set, is the taken-over connection the stream writes to (rawconn.go).
	raw *rawStream
}

func (k *sseSink) write(b []byte) error {
	if k.raw != nil {
		k.started = true
		return k.raw.write(b)
	}
	if !k.deadline {
		if err := k.rc.SetWriteDeadline(time.Now().Add(k.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		k.deadline = true
	}
	if !k.started {
		k.started = true
		h := k.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		k.w.WriteHeader(http.StatusOK)
		var hint [32]byte
		if _, err := k.w.Write(sse.AppendRetry(hint[:0], k.retry)); err != nil {
			return err
		}
	}
	_, err := k.w.Write(b)
	return err
}

func (k *sseSink) Event(d *hub.Delivery) error {
	if k.encode != nil {
		return k.write(d.Encoded(k.slot, k.encode))
	}
	return k.write(d.Encoded(hub.EncodingSSE, encodeSSE))
}

func (k *sseSink) Batch(ds []*hub.Delivery, unread int) error {
	if k.raw != nil {
		k.scratch = nil // the raw path keeps frames until Flush: no reuse
	}
	k.scratch = appendBatchData(k.scratch[:0], ds)
	frame := sse.AppendEvent(nil, ds[len(ds)-1].ID, tocsin.EventBatch, k.scratch)
	if unread != tocsin.UnreadUnchanged {
		frame = sse.AppendEvent(frame, "", tocsin.EventUnread, unreadJSON(unread))
	}
	if cap(k.scratch) > 4096 {
		k.scratch = nil
	}
	return k.write(frame)
}

// appendBatchData appends the data of a notifications:batch event: the array of
// its events as {"id", "event", "data"} objects (each the WebSocket frame of the
// event, encoded once per delivery and shared).
func appendBatchData(b []byte, ds []*hub.Delivery) []byte {
	b = append(b, '[')
	for i, d := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, d.Encoded(hub.EncodingWSEvent, encodeWSEvent)...)
	}
	return append(b, ']')
}

func (k *sseSink) Control(name, id string, data []byte) error {
	if k.raw != nil {
		return k.write(sse.AppendEvent(nil, id, name, data)) // kept until Flush
	}
	k.scratch = sse.AppendEvent(k.scratch[:0], id, name, data)
	err := k.write(k.scratch)
	if cap(k.scratch) > 4096 {
		k.scratch = nil // an init can be large; do not keep it for the connection's life
	}
	return err
}

func (k *sseSink) Heartbeat() error {
	return k.write(heartbeatFrame)
}

var heartbeatFrame = sse.AppendComment(nil, "heartbeat")

// Flush sends what was written. The hub's first Flush comes once the stream has
// begun, so it also starts a stream that had nothing to write yet (no init).
func (k *sseSink) Flush() error {
	if !k.started {
		if err := k.write(nil); err != nil {
			return err
		}
	}
	if k.raw != nil {
		return k.raw.flush()
	}
	k.deadline = false
	return k.rc.Flush()
}

// Blocked reports whether a driven stream's background write is going on
// (hub.AsyncSink).
func (k *sseSink) Blocked() (bool, error) {
	if k.raw == nil {
		return false, nil
	}
	return k.raw.Blocked()
}

// stream: GET /api/notifications/stream, the user's stream over SSE.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	req, err := s.subscribeRequest(r, p, "sse")
	if err != nil {
		return err
	}
	return s.serveSSE(w, r, p, req)
}

// serveSSE serves one SSE stream until it ends.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, p tocsin.Principal, req hub.SubscribeRequest) error {
	sink := &sseSink{w: w, rc: http.NewResponseController(w), retry: s.cfg.Retry, timeout: s.cfg.WriteTimeout}
	return s.runSSE(r, p, req, sink)
}

// runSSE runs the stream on sink until it ends. Every stream is counted in
// s.streams until it has ended (Close waits for them): a taken-over one outlives
// its handler.
func (s *Server) runSSE(r *http.Request, p tocsin.Principal, req hub.SubscribeRequest, sink *sseSink) error {
	streamEstablished(sink.rc) // no body is coming: --read-timeout no longer applies
	s.streams.add()
	if conn, lines, ok := takeOver(sink.w, r, sink.rc); ok {
		sink.w, sink.rc = nil, nil // net/http's writer is gone with the connection
		sink.raw = &rawStream{conn: conn, timeout: sink.timeout, head: lines, first: sse.AppendRetry(nil, sink.retry), track: &s.streams}
		go s.runRawSSE(p, req, sink) // its end calls s.streams.done
		return nil
	}
	defer s.streams.done()
	err := s.hub.Serve(r.Context(), req, sink)
	if !sink.started {
		if err == nil {
			err = tocsin.Errorf(tocsin.EUnavailable, "stream ended before it started")
		}
		return err
	}
	s.endStream(p, sink, err)
	return nil
}

// runRawSSE runs a stream on a taken-over connection until it ends, then closes it
// and tells s.streams. Its context is its own (the request's ended with the
// handler): the client hanging up, noticed by the shared watcher, cancels it. On a
// plain TCP connection on Linux the live phase is driven by the hub's workers (no
// goroutine per stream); elsewhere (TLS) it runs on a goroutine of its own.
func (s *Server) runRawSSE(p tocsin.Principal, req hub.SubscribeRequest, sink *sseSink) {
	ctx, cancel := context.WithCancel(context.Background())
	var driven atomic.Pointer[hub.Stream]
	stop := s.watchHangUp(sink.raw.conn, func() {
		cancel()
		if st := driven.Load(); st != nil {
			st.Stop()
		}
	})
	sink.raw.stop = stop
	if rc, ok := rawWriter(sink.raw.conn); ok {
		sink.raw.rc = rc
		st, err := s.hub.Begin(ctx, req, sink)
		if err != nil {
			cancel()
			s.failRawSSE(p, sink, err)
			s.streams.done()
			return
		}
		sink.raw.setWake(st.Wake)
		driven.Store(st)
		if ctx.Err() != nil {
			st.Stop() // the client left while the stream began
		}
		st.Go(func(err error) {
			cancel()
			s.endStream(p, sink, err)
			sink.raw.close()
			s.streams.done()
		})
		return
	}
	st, err := s.hub.Begin(ctx, req, sink)
	if err != nil {
		cancel()
		s.failRawSSE(p, sink, err)
		s.streams.done()
		return
	}
	// The live phase on a fresh goroutine: this one's stack grew with the store
	// reads and encoding of the start, and an idle stream should not keep it.
	go func() {
		defer s.streams.done()
		defer cancel()
		s.endStream(p, sink, st.Live(ctx))
		sink.raw.close()
	}()
}

// failRawSSE ends a taken-over stream that failed to begin: a JSON error answer when
// nothing was written yet.
func (s *Server) failRawSSE(p tocsin.Principal, sink *sseSink, err error) {
	if sink.raw.started {
		s.endStream(p, sink, err)
		sink.raw.close()
		return
	}
	sink.raw.stop()
	if tocsin.ErrorCodeOf(err) == tocsin.EInternal {
		s.log.Error("stream failed", "user_id", p.UserID, "err", err)
	}
	writeRawError(sink.raw.conn, sink.raw.head, err)
	_ = sink.raw.conn.Close()
}

// endStream tells a stream's client how it ended (a reconnect hint on shutdown).
func (s *Server) endStream(p tocsin.Principal, sink *sseSink, err error) {
	switch {
	case errors.Is(err, hub.ErrShutdown):
		// Come back soon, spread over a few seconds so a whole node's clients do not
		// reconnect in the same instant.
		jitter := 500*time.Millisecond + rand.N(2500*time.Millisecond)
		_ = sink.write(sse.AppendRetry(nil, jitter))
		_ = sink.Flush()
	case errors.Is(err, hub.ErrExpired):
		// The token that opened the stream expired: the response ends cleanly (the last
		// chunk), and the client reconnects with a fresh token and Last-Event-ID, losing
		// nothing. An EventSource reconnecting with the same expired token gets 401 and
		// stops: a client must fetch a fresh token (or ticket) first.
	case err != nil && !errors.Is(err, hub.ErrSlowConsumer) && !errors.Is(err, hub.ErrReplaced) && !errors.Is(err, hub.ErrRevoked):
		s.log.Debug("stream ended", "user_id", p.UserID, "err", err)
	}
}

// subscribeRequest reads what a stream request asks for: the resume point
// (Last-Event-ID header, else ?lastEventId=), ?types= and the device name.
func (s *Server) subscribeRequest(r *http.Request, p tocsin.Principal, transport string) (hub.SubscribeRequest, error) {
	q := r.URL.Query()
	batch := s.cfg.Batch
	if v := q.Get("batch"); v != "" {
		var err error
		if batch, err = parseBatch(v); err != nil {
			return hub.SubscribeRequest{}, err
		}
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = q.Get("lastEventId")
	}
	if len(last) > tocsin.MaxEventIDLen || !printable(last) {
		return hub.SubscribeRequest{}, tocsin.Errorf(tocsin.EInvalid, "Last-Event-ID must be at most %d printable characters", tocsin.MaxEventIDLen)
	}
	types, err := parseTypes(q.Get("types"))
	if err != nil {
		return hub.SubscribeRequest{}, err
	}
	device := r.Header.Get("Device-Id")
	if device == "" {
		device = q.Get("deviceId")
	}
	if len(device) > 128 || !printable(device) {
		return hub.SubscribeRequest{}, tocsin.Errorf(tocsin.EInvalid, "Device-Id must be at most 128 printable characters")
	}
	return hub.SubscribeRequest{
		UserID: p.UserID, LastEventID: strings.TrimSpace(last), Types: types,
		DeviceID: device, Transport: transport, Batch: batch, ClientAddr: s.clientKey(r),
		Expires: p.Expires, // the stream ends with its token (never for a gateway's header)
	}, nil
}

// maxBatch bounds ?batch=: longer windows would read as lag, not batching.
const maxBatch = 10 * time.Second

// parseBatch reads a batching window: a duration (200ms, 1s) or milliseconds (200);
// 0 turns batching off.
func parseBatch(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		ms, perr := strconv.Atoi(v)
		if perr != nil {
			return 0, tocsin.Errorf(tocsin.EInvalid, "batch must be a duration such as 200ms, or milliseconds")
		}
		d = time.Duration(ms) * time.Millisecond
	}
	if d < 0 || d > maxBatch {
		return 0, tocsin.Errorf(tocsin.EInvalid, "batch must be between 0 (off) and %v", maxBatch)
	}
	return d, nil
}
