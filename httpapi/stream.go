package httpapi

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/sse"
)

// The sinks of open streams (hub.Stream; see the hub's glossary): the hub runs an
// open stream (Begin, then Live or Go) and writes through one sink per transport,
// each a hub.Sink:
//
//   - httpSSESink (this file): SSE through net/http's ResponseWriter: HTTP/2, and
//     any connection that cannot be taken over.
//   - rawSSESink (rawsink.go): SSE on an HTTP/1.1 connection taken over from
//     net/http (rawconn.go, plain or TLS), writing the chunked framing itself; on
//     plain TCP on Linux it is a hub.AsyncSink, driven by the hub's workers.
//   - wsSink (ws.go): WebSocket.
//
// The two SSE sinks share the encodings below as plain functions (sseEncoding,
// batchFrame, heartbeatFrame, setSSEHeaders); serveSSE picks the sink. streamSet
// counts the streams that outlive their handler, so that Close waits for them.

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

// sseEncoding is how a stream frames its events: the standard SSE frame (the zero
// value) or the stream's own (capability streams frame events without names).
type sseEncoding struct {
	encode func(*hub.Delivery) []byte
	slot   hub.Encoding
}

// frame is d's SSE frame, encoded once per delivery and shared by the streams.
func (e sseEncoding) frame(d *hub.Delivery) []byte {
	if e.encode != nil {
		return d.Encoded(e.slot, e.encode)
	}
	return d.Encoded(hub.EncodingSSE, encodeSSE)
}

// batchFrame is the notifications:batch event of ds (data, from appendBatchData),
// then the "unread" event when unread is not UnreadUnchanged. It is a fresh slice:
// a taken-over stream keeps it until its flush.
func batchFrame(ds []*hub.Delivery, data []byte, unread int) []byte {
	frame := sse.AppendEvent(nil, ds[len(ds)-1].ID, tocsin.EventBatch, data)
	if unread != tocsin.UnreadUnchanged {
		frame = sse.AppendEvent(frame, "", tocsin.EventUnread, unreadJSON(unread))
	}
	return frame
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

var heartbeatFrame = sse.AppendComment(nil, "heartbeat")

// setSSEHeaders sets the header of an SSE response (either transport): the proxy
// hint X-Accel-Buffering stops nginx from holding frames back.
func setSSEHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
}

// httpSSESink writes one stream's SSE frames through net/http: HTTP/2, and any
// connection that could not be taken over. Headers and the retry hint go out with
// the first frame, so an error found before it (429, 503) is still answered by
// writeError. Each write cycle gets a fresh write deadline: a client that stops
// reading is cut off instead of holding the goroutine.
type httpSSESink struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	retry    time.Duration
	timeout  time.Duration
	enc      sseEncoding
	started  bool
	deadline bool   // a deadline is set for the current write cycle
	scratch  []byte // reused between writes: net/http copies what it is given
}

func (k *httpSSESink) write(b []byte) error {
	if !k.deadline {
		if err := k.rc.SetWriteDeadline(time.Now().Add(k.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		k.deadline = true
	}
	if !k.started {
		k.started = true
		setSSEHeaders(k.w.Header())
		k.w.WriteHeader(http.StatusOK)
		var hint [32]byte
		if _, err := k.w.Write(sse.AppendRetry(hint[:0], k.retry)); err != nil {
			return err
		}
	}
	_, err := k.w.Write(b)
	return err
}

func (k *httpSSESink) Event(d *hub.Delivery) error { return k.write(k.enc.frame(d)) }

func (k *httpSSESink) Batch(ds []*hub.Delivery, unread int) error {
	k.scratch = appendBatchData(k.scratch[:0], ds)
	err := k.write(batchFrame(ds, k.scratch, unread))
	if cap(k.scratch) > 4096 {
		k.scratch = nil
	}
	return err
}

func (k *httpSSESink) Control(name, id string, data []byte) error {
	k.scratch = sse.AppendEvent(k.scratch[:0], id, name, data)
	err := k.write(k.scratch)
	if cap(k.scratch) > 4096 {
		k.scratch = nil // an init can be large; do not keep it for the connection's life
	}
	return err
}

func (k *httpSSESink) Heartbeat() error { return k.write(heartbeatFrame) }

// Flush sends what was written. The hub's first Flush comes once the stream has
// begun, so it also starts a stream that had nothing to write yet (no init).
func (k *httpSSESink) Flush() error {
	if !k.started {
		if err := k.write(nil); err != nil {
			return err
		}
	}
	k.deadline = false
	return k.rc.Flush()
}

// stream: GET /api/notifications/stream, the user's stream over SSE.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	req, err := s.subscribeRequest(r, p, "sse")
	if err != nil {
		return err
	}
	return s.serveSSE(w, r, p, req, sseEncoding{})
}

// serveSSE serves one SSE stream until it ends: on the connection itself when it
// can be taken over (an HTTP/1.1 one), through net/http otherwise. Every stream is
// counted in s.streams until it has ended (Close waits for them): a taken-over one
// outlives its handler.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request, p tocsin.Principal, req hub.SubscribeRequest, enc sseEncoding) error {
	rc := http.NewResponseController(w)
	streamEstablished(rc) // no body is coming: --read-timeout no longer applies
	s.streams.add()
	if conn, header, ok := takeOver(w, r, rc); ok {
		sink := &rawSSESink{conn: conn, header: header, enc: enc, retry: s.cfg.Retry,
			timeout: s.cfg.WriteTimeout, streams: &s.streams, rec: s.takeRecord(w, r)}
		go s.runRawSSE(r, p, req, sink) // its end calls s.streams.done
		return nil
	}
	defer s.streams.done()
	sink := &httpSSESink{w: w, rc: rc, retry: s.cfg.Retry, timeout: s.cfg.WriteTimeout, enc: enc}
	err := s.hub.Serve(r.Context(), req, sink)
	if !sink.started {
		if err == nil {
			err = tocsin.Errorf(tocsin.EUnavailable, "stream ended before it started")
		}
		return err // answered by writeError, as any other request's
	}
	if last := s.endStream(p, err); last != nil {
		_ = sink.write(last)
		_ = sink.Flush()
	}
	return nil
}

// endStream says how an SSE stream that ended with err ends for its client: the
// last frame to send it (a reconnect hint on shutdown), or nil; it logs the ends
// that are not expected.
func (s *Server) endStream(p tocsin.Principal, err error) (last []byte) {
	switch {
	case errors.Is(err, hub.ErrShutdown):
		// Come back soon, spread over a few seconds so a whole node's clients do not
		// reconnect in the same instant.
		jitter := 500*time.Millisecond + rand.N(2500*time.Millisecond)
		return sse.AppendRetry(nil, jitter)
	case errors.Is(err, hub.ErrExpired):
		// The token that opened the stream expired: the response ends cleanly (the last
		// chunk), and the client reconnects with a fresh token and Last-Event-ID, losing
		// nothing. An EventSource reconnecting with the same expired token gets 401 and
		// stops: a client must fetch a fresh token (or ticket) first.
	case err != nil && !errors.Is(err, hub.ErrSlowConsumer) && !errors.Is(err, hub.ErrReplaced) && !errors.Is(err, hub.ErrRevoked):
		s.log.Debug("stream ended", "user_id", p.UserID, "err", err)
	}
	return nil
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
