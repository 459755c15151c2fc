package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Recording responses: the one place every response's status is counted
// (tocsin_http_requests_total) and logged (the debug access log).
//
// Most responses are over when their handler returns, and adapt records them then.
// A taken-over SSE stream is not: its handler returns as soon as it has the
// connection, and the stream is answered later, on the connection itself, with
// 200 and its frames or with an error (429, 503) when the hub refuses it. So the
// handler takes the record away from adapt (takeRecord) and the stream records it
// when it ends, with the status it really sent.

// accessRecord is what the server records of one response.
type accessRecord struct {
	route  *routeName // nil: not under adapt, nothing to record
	start  time.Time
	userID string
	// req is the request as the debug log shows it; made only when debug logging is on.
	req *requestLine
}

// routeName names a route in the record: label is the metric's ("GET /x/{id}"),
// pattern the log's.
type routeName struct{ label, pattern string }

type requestLine struct{ method, path, client string }

// requestLine describes r for the debug log; capability tokens and ?token=/?ticket=
// are redacted from the path.
func (s *Server) requestLine(r *http.Request) *requestLine {
	return &requestLine{method: r.Method, path: redactRequest(r), client: s.clientAddr(r).String()}
}

// record counts a response by route and status class and logs it at debug level.
func (s *Server) record(ctx context.Context, a *accessRecord, status int) {
	if a.route == nil {
		return
	}
	if s.cfg.HTTPRequests != nil {
		s.cfg.HTTPRequests.WithLabelValues(a.route.label, statusClass(status)).Inc()
	}
	if a.req != nil && s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "request",
			slog.String("method", a.req.method), slog.String("route", a.route.pattern), slog.String("path", a.req.path),
			slog.Int("status", status), slog.String("user_id", a.userID),
			slog.String("client", a.req.client),
			slog.Duration("duration", time.Since(a.start)))
	}
}

// takeRecord takes the recording of w's response away from adapt, for a stream
// that answers on a taken-over connection after its handler returned: the stream
// records it (record) when it ends. The request line is made now, while r is the
// handler's, and only when debug logging is on: a stream keeps the record for its
// whole life.
func (s *Server) takeRecord(w http.ResponseWriter, r *http.Request) accessRecord {
	sw, ok := w.(*statusWriter)
	if !ok {
		return accessRecord{}
	}
	sw.detached = true
	a := sw.rec
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		a.req = s.requestLine(r)
	}
	return a
}

func statusClass(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	return string(rune('0'+code/100)) + "xx"
}

// statusWriter is the ResponseWriter adapt hands a handler: it remembers whether and
// with which status the response was started, and carries the response's record.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	rec    accessRecord
	// detached says the connection was taken over: the stream records the response
	// (takeRecord), adapt does not.
	detached bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
