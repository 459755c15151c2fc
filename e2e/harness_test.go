// Package e2e tests tocsin end to end: a real node (the same wiring as the binary)
// on a real listener, real HTTP clients, raw SSE bytes read off the wire.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/config"
	"github.com/tocsin/tocsin/internal/app"
	"github.com/tocsin/tocsin/sse"
)

const (
	apiKey    = "tk_test_key_0123456789"
	jwtSecret = "test-secret-that-is-long-enough-for-hs256"
)

// node is one running tocsin server under test.
type node struct {
	t      *testing.T
	URL    string
	client *http.Client // http.DefaultClient unless a test sets its own (TLS)
	app    *app.App
	done   chan error
}

// startNode runs a node on 127.0.0.1 with a fresh data dir. mutate may change the
// configuration (flags as a user would pass them).
func startNode(t *testing.T, flags ...string) *node {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return startNodeLog(t, log, flags...)
}

// startNodeLog is startNode logging to log (a test that reads the server's log).
func startNodeLog(t *testing.T, log *slog.Logger, flags ...string) *node {
	t.Helper()
	args := append([]string{
		"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--api-key", apiKey, "--jwt-secret", jwtSecret, "--sqlite-sync", "normal",
	}, flags...)
	cfg, err := config.Load(args, func(string) string { return "" })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	a, err := app.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scheme := "http://"
	if cfg.TLSCert != "" {
		scheme = "https://"
	}
	n := &node{t: t, URL: scheme + ln.Addr().String(), client: http.DefaultClient, app: a, done: make(chan error, 1)}
	go func() { n.done <- a.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Shutdown(ctx)
		<-n.done
	})
	return n
}

func (n *node) httpClient() *http.Client {
	if n.client != nil {
		return n.client
	}
	return http.DefaultClient
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func userToken(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.MintJWT([]byte(jwtSecret), user, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.Status, err, r.Body)
	}
}

// errCode returns the code of a JSON error body.
func (r response) errCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	r.json(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("error body lacks code or message: %s", r.Body)
	}
	return e.Error.Code
}

// do sends a request; body may be nil, a string, []byte or a value to marshal.
func (n *node) do(method, path, bearer string, body any, headers ...string) response {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			n.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, n.URL+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := n.httpClient().Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// notification is the REST/stream object, as a test reads it.
type notification struct {
	ID         string          `json:"id"`
	UserID     string          `json:"userId"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Body       string          `json:"body"`
	Priority   int             `json:"priority"`
	Tags       []string        `json:"tags"`
	Data       json.RawMessage `json:"data"`
	Count      int             `json:"count"`
	CreatedAt  string          `json:"createdAt"`
	SeenAt     *string         `json:"seenAt"`
	ReadAt     *string         `json:"readAt"`
	ArchivedAt *string         `json:"archivedAt"`
}

// publish publishes to one user and returns the stored notification.
func (n *node) publish(user string, fields map[string]any) notification {
	n.t.Helper()
	body := map[string]any{"userId": user, "type": "comment", "title": "t", "body": "b"}
	for k, v := range fields {
		body[k] = v
	}
	r := n.do("POST", "/api/notifications", apiKey, body)
	if r.Status != http.StatusCreated {
		n.t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	var out notification
	r.json(n.t, &out)
	return out
}

// stream is an open SSE response read frame by frame.
type stream struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	events chan sse.Event
	errs   chan error
}

// openStream opens path (with query) as SSE; headers are name, value pairs.
func (n *node) openStream(path string, headers ...string) *stream {
	n.t.Helper()
	s, status, body := n.tryStream(path, headers...)
	if s == nil {
		n.t.Fatalf("stream %s: status %d: %s", path, status, body)
	}
	return s
}

// tryStream opens path; on a non-200 answer it returns nil with the status and body.
func (n *node) tryStream(path string, headers ...string) (*stream, int, []byte) {
	n.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := n.httpClient().Do(req)
	if err != nil {
		cancel()
		n.t.Fatalf("stream %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, resp.StatusCode, body
	}
	s := &stream{t: n.t, resp: resp, cancel: cancel, events: make(chan sse.Event, 1024), errs: make(chan error, 1)}
	go func() {
		dec := sse.NewDecoder(bufio.NewReader(resp.Body))
		for {
			ev, err := dec.Next()
			if err != nil {
				s.errs <- err
				close(s.events)
				return
			}
			s.events <- ev
		}
	}()
	n.t.Cleanup(s.close)
	return s, resp.StatusCode, nil
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next event (comments included when the decoder reports them),
// failing the test after timeout.
func (s *stream) next(timeout time.Duration) sse.Event {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("stream ended: %v", <-s.errs)
		}
		return ev
	case <-time.After(timeout):
		s.t.Fatalf("no event within %v", timeout)
	}
	return sse.Event{}
}

// nextEvent skips comments (heartbeats) and returns the next dispatched event.
func (s *stream) nextEvent() sse.Event {
	s.t.Helper()
	for {
		ev := s.next(5 * time.Second)
		if isComment(ev) {
			continue
		}
		return ev
	}
}

// expect reads the next event and checks its name; it returns the event.
func (s *stream) expect(name string) sse.Event {
	s.t.Helper()
	ev := s.nextEvent()
	if ev.Name != name {
		s.t.Fatalf("got event %q (id %q, data %s), want %q", ev.Name, ev.ID, ev.Data, name)
	}
	return ev
}

// quiet checks that no event arrives within d.
func (s *stream) quiet(d time.Duration) {
	s.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return
			}
			if isComment(ev) {
				continue
			}
			s.t.Fatalf("unexpected event %q id %q data %s", ev.Name, ev.ID, ev.Data)
		case <-deadline:
			return
		}
	}
}

// ended waits for the server to end the stream.
func (s *stream) ended(timeout time.Duration) {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return
			}
		case <-deadline:
			s.t.Fatalf("stream still open after %v", timeout)
		}
	}
}

func decode[T any](t *testing.T, data string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("event data is not the JSON expected: %v\n%s", err, data)
	}
	return v
}

func ids(ns []notification) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "%s ", n.ID)
	}
	return b.String()
}

// seqOf returns the stream position of an event id ("<epoch>-<seq>").
func seqOf(t *testing.T, id string) uint64 {
	t.Helper()
	i := strings.LastIndexByte(id, '-')
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if i < 0 || err != nil {
		t.Fatalf("event id %q has no position", id)
	}
	return seq
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// isComment reports frames that are not events: comments (heartbeats) and retry hints.
func isComment(ev sse.Event) bool     { return ev.IsComment || ev.Name == "" }
func commentText(ev sse.Event) string { return ev.Comment }
