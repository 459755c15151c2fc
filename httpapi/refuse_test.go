package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/membus"
	"github.com/tocsin/tocsin/metrics"
	"github.com/tocsin/tocsin/sqlite"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// streamNode is one server, as tocsin serve wires it (SQLite, memory bus, metrics),
// reachable through several front doors (transports).
type streamNode struct {
	hub     *hub.Hub
	handler http.Handler
}

// newStreamNode starts a node whose users hold at most maxPerUser streams each,
// logging to log (debug included, when log takes it).
func newStreamNode(t testing.TB, maxPerUser int, log slog.Handler) *streamNode {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tocsin.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{JWTSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	h := hub.New(hub.Config{Store: store, Bus: membus.New(), Observer: m, MaxStreamsPerUser: maxPerUser})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httpapi.New(httpapi.Config{Hub: h, Store: store, Auth: a, Gatherer: m.Registry,
		HTTPRequests: m.HTTPRequests, Logger: slog.New(log)})
	t.Cleanup(func() {
		h.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("streams still open: %v", err)
		}
		h.Close()
		store.Close()
	})
	return &streamNode{hub: h, handler: srv}
}

// door is one way to reach the node, and whether its streams take the connection
// over.
type door struct {
	name     string
	takeOver bool
	start    func(http.Handler) *httptest.Server
}

// noHijack hides the connection from the handler (as a proxying middleware would):
// the stream stays on net/http.
type noHijack struct{ http.ResponseWriter }

var doors = []door{
	{"HTTP/1.1 taken over, driven", true, httptest.NewServer},
	{"HTTP/1.1 over TLS taken over, own goroutine", true, httptest.NewTLSServer},
	{"HTTP/2 through net/http", false, func(h http.Handler) *httptest.Server {
		ts := httptest.NewUnstartedServer(h)
		ts.EnableHTTP2 = true
		ts.StartTLS()
		return ts
	}},
	{"HTTP/1.1 through net/http (cannot hijack)", false, func(h http.Handler) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(noHijack{w}, r)
		}))
	}},
}

// answer is what a refused stream was answered: status, the headers that do not
// depend on the transport, and the body.
type answer struct {
	status int
	header http.Header
	body   string
}

// transportHeaders differ by transport, not by answer: the length and connection
// framing, the date net/http adds, HSTS on TLS.
var transportHeaders = []string{"Content-Length", "Connection", "Date", "Strict-Transport-Security"}

func openStream(t *testing.T, ts *httptest.Server, user string) *http.Response {
	t.Helper()
	tok, err := auth.MintJWT(testSecret, user, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/notifications/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := ts.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp
}

func refusal(t *testing.T, resp *http.Response) answer {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Header.Clone()
	for _, k := range transportHeaders {
		h.Del(k)
	}
	return answer{resp.StatusCode, h, string(body)}
}

// TestStreamRefusedAfterTakeover: a stream the hub refuses (the user's stream cap,
// then shutdown) is answered the same whether its connection was taken over or not:
// the same status, body, headers and Retry-After; and the metrics and the debug
// log count each with its real status, as they count a stream that was served,
// when it ends.
func TestStreamRefusedAfterTakeover(t *testing.T) {
	log := &recordedLog{}
	n := newStreamNode(t, 1, log)
	servers := make([]*httptest.Server, len(doors))
	for i, d := range doors {
		servers[i] = d.start(n.handler)
		t.Cleanup(servers[i].Close)
	}

	held := openStream(t, servers[0], "alice")
	if held.StatusCode != http.StatusOK {
		t.Fatalf("first stream: %d", held.StatusCode)
	}
	if _, err := bufio.NewReader(held.Body).ReadString('\n'); err != nil { // the retry hint: it began
		t.Fatal(err)
	}

	for _, step := range []struct {
		name       string
		before     func()
		status     int
		retryAfter string
		message    string
	}{
		{"over the user's cap", func() {}, http.StatusTooManyRequests, "1", "user has 1 open streams"},
		{"during shutdown", n.hub.Shutdown, http.StatusServiceUnavailable, "2", "shutting down"},
	} {
		t.Run(step.name, func(t *testing.T) {
			step.before()
			var first answer
			for i, d := range doors {
				resp := openStream(t, servers[i], "alice")
				if got := resp.ProtoMajor == 2; got != strings.HasPrefix(d.name, "HTTP/2") {
					t.Fatalf("%s: answered over HTTP/%d", d.name, resp.ProtoMajor)
				}
				a := refusal(t, resp)
				if a.status != step.status || a.header.Get("Retry-After") != step.retryAfter ||
					a.header.Get("Content-Type") != "application/json" || !strings.Contains(a.body, step.message) {
					t.Fatalf("%s: %d, Retry-After %q, %v\n%s", d.name, a.status, a.header.Get("Retry-After"), a.header, a.body)
				}
				if i == 0 {
					first = a
					continue
				}
				if a.status != first.status || a.body != first.body || !headersEqual(a.header, first.header) {
					t.Errorf("%s answered\n%d %v %s\n%s answered\n%d %v %s", d.name, a.status, a.header, a.body,
						doors[0].name, first.status, first.header, first.body)
				}
			}
		})
	}

	// Every refusal is counted by its class, and the held stream, ended by the
	// shutdown, as served.
	const route = "GET /api/notifications/stream"
	waitFor(t, "the metrics", func() bool {
		c := requestCounts(t, servers[0], route)
		return c["4xx"] == len(doors) && c["5xx"] == len(doors) && c["2xx"] == 1
	}, func() string { return fmt.Sprint(requestCounts(t, servers[0], route)) })
	statuses := log.statuses("/api/notifications/stream")
	slices.Sort(statuses)
	want := []int{200}
	for range doors {
		want = append(want, 429)
	}
	for range doors {
		want = append(want, 503)
	}
	slices.Sort(want)
	if !slices.Equal(statuses, want) {
		t.Errorf("debug log statuses %v, want %v", statuses, want)
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// requestCounts reads tocsin_http_requests_total of route by status class from the
// server's /metrics.
func requestCounts(t testing.TB, ts *httptest.Server, route string) map[string]int {
	t.Helper()
	resp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	counts := map[string]int{}
	prefix := `tocsin_http_requests_total{code="`
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		class, rest, _ := strings.Cut(line, `"`)
		labels, value, _ := strings.Cut(rest, "} ")
		if labels != `,route="`+route+`"` {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", sc.Text(), err)
		}
		counts[class] = int(v)
	}
	return counts
}

// waitFor polls cond (what the server does after a client leaves takes a moment).
func waitFor(t testing.TB, what string, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", what, state())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordedLog keeps the debug log's request records.
type recordedLog struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *recordedLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *recordedLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *recordedLog) WithGroup(string) slog.Handler            { return l }
func (l *recordedLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}

// statuses are the statuses the "request" records of route show.
func (l *recordedLog) statuses(route string) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for _, r := range l.records {
		if r.Message != "request" {
			continue
		}
		var rt string
		status := -1
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "route":
				rt = a.Value.String()
			case "status":
				status = int(a.Value.Int64())
			}
			return true
		})
		if rt == route {
			out = append(out, status)
		}
	}
	return out
}
