package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/sse"
)

// Event is one event of a stream. ID is empty for events that do not move the
// resume point (unread, reset).
type Event struct {
	ID   string
	Name string // "init", "notification", "notification:updated", "unread", "reset", custom names...
	Data json.RawMessage
}

// Notification decodes the event's data as a notification (notification and
// notification:updated events).
func (e Event) Notification() (tocsin.Notification, error) {
	var n tocsin.Notification
	err := json.Unmarshal(e.Data, &n)
	return n, err
}

// SubscribeOptions configures Subscribe.
type SubscribeOptions struct {
	// Path is the stream to read: "/api/notifications/stream" (the default, the
	// token's user), "/api/topics/<name>/stream", or "/api/stream/<token>".
	Path string
	// LastEventID resumes after this id; "" starts fresh (with init).
	LastEventID string
	// MinBackoff and MaxBackoff bound the wait before a reconnect (250ms and 30s):
	// it doubles after each failed attempt, with full jitter, and starts over once a
	// connection has delivered an event.
	MinBackoff, MaxBackoff time.Duration
	// OnDisconnect, when set, hears each disconnect and the wait before the next try.
	OnDisconnect func(err error, wait time.Duration)
}

// ErrStop may be returned by a handler to end Subscribe without an error.
var ErrStop = errors.New("tocsin: stop")

// Subscribe reads a stream until ctx ends, the handler returns an error (ErrStop:
// none), or the server refuses the credentials (401/403: final; with WithTokenSource
// a 401 is first retried once with a fresh token). When the server ends the stream
// because its token expired, Subscribe reconnects at once with a fresh token from the
// source and resumes after the last event. It reconnects after
// any other failure, resuming after the last event it handed over, and never hands
// over an event twice: an id at or below the last one seen (same history) is
// dropped. After a "reset" (the resume point could not be honoured) the "init" that
// follows starts a new history; handlers should replace their state then.
func (c *Client) Subscribe(ctx context.Context, o SubscribeOptions, handler func(Event) error) error {
	if o.Path == "" {
		o.Path = "/api/notifications/stream"
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	s := &subscription{c: c, o: o, handler: handler, last: o.LastEventID}
	attempt := 0
	fresh := false // the next connect takes a fresh token from the source
	for {
		delivered, err := s.once(ctx, fresh)
		retried := fresh
		fresh = false
		if errors.Is(err, ErrStop) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized && c.tokens != nil && !retried {
			fresh = true // the held token was refused: once more with a fresh one, at once
			continue
		}
		if errors.As(err, &apiErr) && apiErr.Final() {
			return apiErr
		}
		if delivered && c.tokens != nil && c.tokens.expired() {
			// The server ended the stream at its token's expiry: reconnect at once with
			// a fresh token, resuming after the last event (no backoff: nothing failed).
			fresh = true
			if o.OnDisconnect != nil {
				o.OnDisconnect(err, 0)
			}
			continue
		}
		var he handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if delivered {
			attempt = 0
		}
		wait := Backoff(attempt, o.MinBackoff, o.MaxBackoff, s.retry)
		attempt++
		if o.OnDisconnect != nil {
			o.OnDisconnect(err, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Backoff is the wait before reconnect attempt n (0-based): full jitter over an
// exponential ceiling from min to max, never less than the server's retry hint.
func Backoff(n int, minWait, maxWait, hint time.Duration) time.Duration {
	ceiling := minWait
	for i := 0; i < n && ceiling < maxWait; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, maxWait)
	wait := minWait/2 + rand.N(ceiling-minWait/2+1)
	return max(wait, min(hint, maxWait))
}

// handlerError carries the handler's own error out of a connection.
type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }

type subscription struct {
	c       *Client
	o       SubscribeOptions
	handler func(Event) error
	last    string        // the id of the last event handed over
	retry   time.Duration // the server's retry: hint
}

// once runs one connection; delivered reports whether it handed over any event.
// fresh asks the token source for a new token first.
func (s *subscription) once(ctx context.Context, fresh bool) (delivered bool, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.c.base+s.o.Path, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	tok, err := s.c.userToken(ctx, fresh)
	if err != nil {
		return false, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if s.last != "" {
		req.Header.Set("Last-Event-ID", s.last)
	}
	resp, err := s.c.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return false, decodeError(resp.StatusCode, data)
	}
	dec := sse.NewDecoder(bufio.NewReader(resp.Body))
	for {
		ev, err := dec.Next()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the server ended the stream: reconnect
			}
			return delivered, err
		}
		if ev.Retry > 0 {
			s.retry = ev.Retry
		}
		if ev.IsComment || ev.Name == "" && ev.Data == "" {
			continue
		}
		if ev.SetID && ev.ID != "" && s.seen(ev.ID) {
			continue // a duplicate: already handed over
		}
		if ev.Name == tocsin.EventReset {
			s.last = "" // a new history begins with the init that follows
		}
		if ev.SetID && ev.ID != "" {
			s.last = ev.ID
		}
		delivered = true
		id := ""
		if ev.SetID {
			id = ev.ID
		}
		if err := s.handler(Event{ID: id, Name: ev.Name, Data: json.RawMessage(ev.Data)}); err != nil {
			if errors.Is(err, ErrStop) {
				return delivered, ErrStop
			}
			return delivered, handlerError{err}
		}
	}
}

// seen reports whether id is at or before the last id handed over, in the same
// history (epoch).
func (s *subscription) seen(id string) bool {
	if s.last == "" {
		return false
	}
	cur, err1 := tocsin.ParseEventID(id)
	last, err2 := tocsin.ParseEventID(s.last)
	if err1 != nil || err2 != nil || cur.Epoch != last.Epoch {
		return false
	}
	return cur.Seq <= last.Seq
}
