package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsin/tocsin"
)

// Body limits (PRODUCT.md §3).
const (
	maxBody     = 64 << 10 // a request body
	maxBulkBody = 1 << 20  // a publish with userIds
)

// readBody reads at most limit bytes of the request body; a larger body is
// payload_too_large, invalid UTF-8 is invalid_request.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tocsin.Errorf(tocsin.ETooLarge, "request body is larger than %d bytes", limit)
		}
		return nil, tocsin.Errorf(tocsin.EInvalid, "could not read request body")
	}
	if !utf8.Valid(body) {
		return nil, tocsin.Errorf(tocsin.EInvalid, "request body is not valid UTF-8")
	}
	return body, nil
}

// decodeJSON decodes body into dst strictly: one JSON value, no unknown fields, every
// field of its declared type. Errors name the field or offset at fault.
func decodeJSON(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return tocsin.Errorf(tocsin.EInvalid, "request body is empty; a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return tocsin.Errorf(tocsin.EInvalid, "request body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return tocsin.Errorf(tocsin.EInvalid, "request body holds trailing data after the JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return tocsin.Errorf(tocsin.EInvalid, "malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return tocsin.Errorf(tocsin.EInvalid, "request body must be a JSON object")
		}
		return tocsin.Errorf(tocsin.EInvalid, "field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return tocsin.Errorf(tocsin.EInvalid, "malformed JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return tocsin.Errorf(tocsin.EInvalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		var te *time.ParseError
		if errors.As(err, &te) {
			return tocsin.Errorf(tocsin.EInvalid, "a time is not RFC 3339 (e.g. 2026-01-02T15:04:05Z)")
		}
		return tocsin.Errorf(tocsin.EInvalid, "invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "a value of another type"
	default:
		return fmt.Sprintf("of type %s", goKind)
	}
}
