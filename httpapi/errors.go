package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/tocsin/tocsin"
)

// statusOf is the one place where error codes become HTTP statuses.
func statusOf(code tocsin.ErrorCode) int {
	switch code {
	case tocsin.EInvalid:
		return http.StatusBadRequest
	case tocsin.EUnauthorized:
		return http.StatusUnauthorized
	case tocsin.EForbidden:
		return http.StatusForbidden
	case tocsin.ENotFound:
		return http.StatusNotFound
	case tocsin.EMethod:
		return http.StatusMethodNotAllowed
	case tocsin.EConflict:
		return http.StatusConflict
	case tocsin.EGone:
		return http.StatusGone
	case tocsin.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case tocsin.EUnsupported:
		return http.StatusUnsupportedMediaType
	case tocsin.ETooMany:
		return http.StatusTooManyRequests
	case tocsin.EUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

type errorBody struct {
	Error struct {
		Code    tocsin.ErrorCode `json:"code"`
		Message string           `json:"message"`
	} `json:"error"`
}

// writeError answers err as {"error": {"code", "message"}}. Errors that are not
// *tocsin.Error are logged and shown only as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tocsin.ErrorCodeOf(err)
	var body errorBody
	body.Error.Code = code
	body.Error.Message = tocsin.ErrorMessageOf(err)
	status := statusOf(code)
	if code == tocsin.EInternal {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", redactRequest(r)), slog.Any("err", err))
	}
	if code == tocsin.EUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin"`)
	}
	if code == tocsin.ETooMany && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	if code == tocsin.EUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "2")
	}
	closeOnError(w, r)
	// Without HTML escaping: a message quoting "<" reads as "<", not "\u003c"
	// (the body is application/json with nosniff, never rendered as HTML).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		writeJSON(w, status, body)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

var errNotFound = tocsin.Errorf(tocsin.ENotFound, "notification not found")
