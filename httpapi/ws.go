package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/hub"
)

// wsReadLimit bounds one client frame; client frames are tiny commands.
const wsReadLimit = 4 << 10

// Close codes (RFC 6455 §7.4; 4000–4999 are the application's). Auth failures are
// 4401/4403 (PRODUCT.md §4) so a client stops instead of retrying.
const (
	closeUnauthorized = 4401
	closeForbidden    = 4403
	closeBadRequest   = 4400
	closeTooMany      = 4429
	closeReplaced     = 4409
)

// appendWSFrame appends {"id":"...","event":"...","data":...}; id is left out when
// empty. id and name are server-made ([a-z0-9-] and validated names), data is JSON.
func appendWSFrame(b []byte, id, name string, data []byte) []byte {
	b = append(b, '{')
	if id != "" {
		b = append(b, `"id":`...)
		b = appendJSONString(b, id)
		b = append(b, ',')
	}
	b = append(b, `"event":`...)
	b = appendJSONString(b, name)
	if data != nil {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string; the fast path covers the plain ASCII
// of ids and event names.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func encodeWSEvent(d *hub.Delivery) []byte {
	return appendWSFrame(make([]byte, 0, len(d.Event.Data)+len(d.ID)+len(d.Event.Name)+32), d.ID, d.Event.Name, d.Event.Data)
}

func encodeWSUnread(d *hub.Delivery) []byte {
	return appendWSFrame(nil, "", tocsin.EventUnread, unreadJSON(d.Event.Unread))
}

// wsSink writes one connection's frames. Every write has its own deadline: a client
// that stops reading is cut off (the library closes the connection on a timeout).
//
// Two goroutines write to the connection: the stream's (the hub calls Event, Batch,
// Control, Heartbeat) and its reader's (wsRead: the answers to commands, and the
// pongs to the client's pings, which coder/websocket writes from inside Read). The
// library writes one frame at a time behind a lock, so write is safe from both;
// scratch is the stream goroutine's alone.
type wsSink struct {
	c       *websocket.Conn
	ctx     context.Context
	timeout time.Duration
	scratch []byte
}

func (k *wsSink) write(b []byte) error {
	ctx, cancel := context.WithTimeout(k.ctx, k.timeout)
	defer cancel()
	return k.c.Write(ctx, websocket.MessageText, b)
}

func (k *wsSink) Event(d *hub.Delivery) error {
	if err := k.write(d.Encoded(hub.EncodingWSEvent, encodeWSEvent)); err != nil {
		return err
	}
	if d.Event.Unread != tocsin.UnreadUnchanged {
		return k.write(d.Encoded(hub.EncodingWSUnread, encodeWSUnread))
	}
	return nil
}

func (k *wsSink) Batch(ds []*hub.Delivery, unread int) error {
	k.scratch = appendWSFrame(k.scratch[:0], ds[len(ds)-1].ID, tocsin.EventBatch, appendBatchData(nil, ds))
	if err := k.write(k.scratch); err != nil {
		return err
	}
	if unread != tocsin.UnreadUnchanged {
		return k.write(appendWSFrame(nil, "", tocsin.EventUnread, unreadJSON(unread)))
	}
	return nil
}

func (k *wsSink) Control(name, id string, data []byte) error {
	k.scratch = appendWSFrame(k.scratch[:0], id, name, data)
	err := k.write(k.scratch)
	if cap(k.scratch) > 4096 {
		k.scratch = nil
	}
	return err
}

// Heartbeat sends a protocol ping and waits for the pong, so a dead peer is found.
// The library reads the pong only inside Read, that is in wsRead: a heartbeat needs
// the reader reading, and a client command that holds it (wsCommand's store write)
// for longer than the write timeout ends the stream with the ping's timeout.
func (k *wsSink) Heartbeat() error {
	ctx, cancel := context.WithTimeout(k.ctx, k.timeout)
	defer cancel()
	return k.c.Ping(ctx)
}

func (k *wsSink) Flush() error { return nil }

// wsClientFrame is what a client may send.
type wsClientFrame struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
}

// ws: GET /api/notifications/ws, the user's stream over WebSocket. Credentials are
// checked before the upgrade but refused after it, with close code 4401/4403, since a
// browser's WebSocket cannot see an HTTP status.
func (s *Server) ws(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	// Counted from the start: once upgraded, the connection is hijacked and net/http's
	// Shutdown no longer waits for it; Close does.
	s.streams.add()
	defer s.streams.done()
	p, err := s.authenticate(r, authStream)
	s.countGuess(r, err) // refused after the upgrade: adapt never sees this error
	if err == errForeignPage {
		return err // 403 before the upgrade, as for any cross-origin handshake
	}
	if !s.wsOriginOK(r) {
		return tocsin.Errorf(tocsin.EForbidden, "WebSocket from a page of another origin refused; list the origin in --cors-origins")
	}
	var req hub.SubscribeRequest
	if err == nil {
		req, err = s.subscribeRequest(r, p, "ws")
	}
	if err == nil {
		err = s.checkLimit(limitConnect, p, w.Header().Set)
	}
	c, aerr := websocket.Accept(w, r, s.wsAccept)
	if aerr != nil {
		return nil // Accept answered (400/403/426)
	}
	c.SetReadLimit(wsReadLimit)
	if err != nil {
		c.Close(wsCloseCode(err), closeReason(err))
		return nil
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sink := &wsSink{c: c, ctx: ctx, timeout: s.cfg.WriteTimeout}
	// A client that breaks the protocol is closed by the reader itself, at once and
	// before the stream's context ends (closing after it, from here, lost the close
	// frame now and then); here the stream then only ends.
	var failed atomic.Bool
	s.streams.goCounted(func() {
		defer cancel() // the client closed or broke the connection: end the stream
		if f, bad := s.wsRead(ctx, c, sink, p.UserID); bad {
			failed.Store(true)
			c.Close(f.code, f.reason)
		}
	})
	err = s.hub.Serve(ctx, req, sink)
	switch {
	case failed.Load():
		// closed by the reader
	case err == nil:
		c.Close(websocket.StatusNormalClosure, "")
	case errors.Is(err, hub.ErrShutdown):
		c.Close(websocket.StatusServiceRestart, "server restarting; reconnect")
	case errors.Is(err, hub.ErrSlowConsumer):
		c.Close(websocket.StatusTryAgainLater, "connection fell behind; resume with lastEventId")
	case errors.Is(err, hub.ErrReplaced):
		c.Close(closeReplaced, "closed for a newer stream of this user")
	case errors.Is(err, hub.ErrExpired):
		// The client reconnects with a fresh token and ?lastEventId=, losing nothing.
		c.Close(closeUnauthorized, "token expired")
	default:
		if ctx.Err() == nil {
			s.log.Debug("websocket stream ended", "user_id", p.UserID, "err", err)
		}
		c.Close(wsCloseCode(err), closeReason(err))
	}
	return nil
}

// wsFailure is how a connection whose client broke the protocol is closed.
type wsFailure struct {
	code   websocket.StatusCode
	reason string
}

// wsRead handles client frames until the connection ends. Commands change the inbox
// exactly as the REST calls do, so their events reach every connection of the user.
// It reports a failure when the client broke the protocol (RFC 6455 §7.1.7: the
// server must fail the connection): a text frame that is not UTF-8 (1007, §8.1), or
// a frame the library refused (an unmasked frame, §5.1, reserved bits or opcodes:
// 1002). The library closes some of those itself; closing again then does nothing.
func (s *Server) wsRead(ctx context.Context, c *websocket.Conn, sink *wsSink, userID string) (wsFailure, bool) {
	refused := 0 // frames refused in a row for the rate (wslimit.go)
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return readFailure(ctx, err)
		}
		if typ == websocket.MessageText && !utf8.Valid(msg) {
			return wsFailure{websocket.StatusInvalidFramePayloadData, "text frame is not valid UTF-8"}, true
		}
		if !s.wsAllow(c, sink, userID, &refused) {
			continue
		}
		if typ != websocket.MessageText {
			s.wsError(sink, tocsin.Errorf(tocsin.EInvalid, "frames must be JSON text"))
			continue
		}
		var f wsClientFrame
		if err := decodeJSON(msg, &f); err != nil {
			s.wsError(sink, err)
			continue
		}
		if err := s.wsCommand(ctx, sink, userID, f); err != nil {
			if ctx.Err() != nil || errors.Is(err, errWSWrite) {
				// The stream is ending (shutdown, expiry, slow): the command was cut
				// short with it, which is no error of the client's or the server's; or
				// the answer could not be written: the client is gone (broken pipe),
				// and the stream's writer ends the stream on its next write.
				return wsFailure{}, false
			}
			s.wsError(sink, err)
		}
	}
}

// readFailure says how a connection whose Read failed with err ends: quietly when
// the stream ended or the client closed or left; as fallen behind when a write of
// the reader's own timed out (the library writes the pong to a client's ping from
// inside Read, and waits at most 5s for the connection's write lock: a stream
// writer blocked on a client that does not read holds it); else as a protocol
// error (the library refused a frame).
func readFailure(ctx context.Context, err error) (wsFailure, bool) {
	switch {
	case ctx.Err() != nil || websocket.CloseStatus(err) != -1 || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed):
		return wsFailure{}, false
	case errors.Is(err, context.DeadlineExceeded): // ctx has no deadline: the library's own
		return wsFailure{websocket.StatusTryAgainLater, "connection fell behind; resume with lastEventId"}, true
	default:
		return wsFailure{websocket.StatusProtocolError, "protocol error"}, true
	}
}

// errWSWrite marks a command whose answer could not be written to the connection.
var errWSWrite = errors.New("websocket: answer not written")

func (s *Server) wsCommand(ctx context.Context, sink *wsSink, userID string, f wsClientFrame) error {
	needID := func() error {
		if !tocsin.ValidNotificationID(f.ID) {
			return tocsin.Errorf(tocsin.EInvalid, "%s needs the id of a notification", f.Type)
		}
		return nil
	}
	yes := true
	switch f.Type {
	case "ping":
		if err := sink.write(appendWSFrame(nil, "", "pong", nil)); err != nil {
			return fmt.Errorf("%w: %w", errWSWrite, err)
		}
		return nil
	case "notification:read":
		if err := needID(); err != nil {
			return err
		}
		_, err := s.hub.Update(ctx, userID, f.ID, tocsin.Patch{Read: &yes})
		return err
	case "notification:seen":
		if err := needID(); err != nil {
			return err
		}
		_, err := s.hub.Update(ctx, userID, f.ID, tocsin.Patch{Seen: &yes})
		return err
	case "notification:read_all":
		_, err := s.hub.ReadAll(ctx, userID)
		return err
	default:
		return tocsin.Errorf(tocsin.EInvalid, "unknown frame type %q; want ping, notification:read, notification:seen or notification:read_all", truncate(f.Type, 64))
	}
}

// wsError answers a bad client frame with an error frame; the connection stays open.
func (s *Server) wsError(sink *wsSink, err error) {
	if tocsin.ErrorCodeOf(err) == tocsin.EInternal {
		s.log.Error("websocket command failed", "err", err)
	}
	body, _ := json.Marshal(map[string]string{
		"code": string(tocsin.ErrorCodeOf(err)), "message": tocsin.ErrorMessageOf(err),
	})
	_ = sink.write(appendWSFrame(nil, "", "error", body))
}

func wsCloseCode(err error) websocket.StatusCode {
	switch tocsin.ErrorCodeOf(err) {
	case tocsin.EUnauthorized:
		return closeUnauthorized
	case tocsin.EForbidden:
		return closeForbidden
	case tocsin.EInvalid:
		return closeBadRequest
	case tocsin.ETooMany:
		return closeTooMany
	case tocsin.EUnavailable:
		return websocket.StatusTryAgainLater
	default:
		return websocket.StatusInternalError
	}
}

// closeReason is the error's client message, cut to fit a close frame (123 bytes).
func closeReason(err error) string {
	return truncate(tocsin.ErrorMessageOf(err), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// wsAcceptOptions turns the library's origin check off: ws checks the origin itself
// before the upgrade (wsOriginOK, and authenticate for the cookie), since whether a
// foreign page may open a stream depends on the credential it uses.
func wsAcceptOptions() *websocket.AcceptOptions {
	return &websocket.AcceptOptions{InsecureSkipVerify: true}
}
