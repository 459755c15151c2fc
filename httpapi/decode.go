package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
		var own *tocsin.Error // a field's own check (tocsin.OptionalTime)
		if errors.As(err, &own) {
			return own
		}
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

// decodePublish decodes the body of a publish as decodeJSON does, taking a shortcut
// for the shape nearly every publish has: one object, each known field once, with
// the exact key spelling, strings, an integer priority, arrays of strings, any
// "data". The shortcut (no reflection, no copy of the body into a decoder) yields
// exactly what decodeJSON would; anything else, and every malformed body, goes to
// decodeJSON, so errors and the rarer forms (keys in another case, repeated keys,
// nulls, other number forms) are its business.
func decodePublish(body []byte, in *tocsin.PublishInput) error {
	if fastPublish(body, in) {
		return nil
	}
	*in = tocsin.PublishInput{}
	return decodeJSON(body, in)
}

// fastPublish decodes body into in, or reports false (leaving in in any state).
func fastPublish(body []byte, in *tocsin.PublishInput) bool {
	// From here on the body is well-formed JSON (and valid UTF-8, which readBody
	// checked already: encoding/json would replace bad bytes).
	if !utf8.Valid(body) || !json.Valid(body) {
		return false
	}
	p := jsonScan{b: body}
	if p.ws(); !p.eat('{') {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		p.ws()
		if p.eat('}') {
			break
		}
		if !first && !(p.eat(',') && p.wsThen()) {
			return false
		}
		key, ok := p.plainString()
		if !ok || !(p.wsThen() && p.eat(':') && p.wsThen()) {
			return false
		}
		f, dst := publishField(in, key)
		if f < 0 || seen&(1<<f) != 0 {
			return false // unknown (or not spelled exactly), or repeated
		}
		seen |= 1 << f
		switch {
		case dst != nil:
			if *dst, ok = p.str(); !ok {
				return false
			}
		case key == "priority":
			if in.Priority, ok = p.integer(); !ok {
				return false
			}
		case key == "userIds":
			if in.UserIDs, ok = p.strings(); !ok {
				return false
			}
		case key == "tags":
			if in.Tags, ok = p.strings(); !ok {
				return false
			}
		case key == "data":
			v, ok := p.value()
			if !ok {
				return false
			}
			in.Data = append(json.RawMessage(nil), v...) // as json.RawMessage.UnmarshalJSON
		case key == "expiresAt":
			v, ok := p.value()
			if !ok || v[0] != '"' {
				return false
			}
			t := new(time.Time)
			if t.UnmarshalJSON(v) != nil {
				return false
			}
			in.ExpiresAt = t
		}
	}
	p.ws()
	return p.i == len(p.b)
}

// publishField numbers the fields of PublishInput by JSON key, and returns the string
// fields' destination; -1 for a key that is not one of them exactly.
func publishField(in *tocsin.PublishInput, key string) (int, *string) {
	switch key {
	case "userId":
		return 0, &in.UserID
	case "topic":
		return 1, &in.Topic
	case "type":
		return 2, &in.Type
	case "title":
		return 3, &in.Title
	case "body":
		return 4, &in.Body
	case "message":
		return 5, &in.Message
	case "actorId":
		return 6, &in.ActorID
	case "entityType":
		return 7, &in.EntityType
	case "entityId":
		return 8, &in.EntityID
	case "actionUrl":
		return 9, &in.ActionURL
	case "imageUrl":
		return 10, &in.ImageURL
	case "groupKey":
		return 11, &in.GroupKey
	case "priority":
		return 12, nil
	case "userIds":
		return 13, nil
	case "tags":
		return 14, nil
	case "data":
		return 15, nil
	case "expiresAt":
		return 16, nil
	}
	return -1, nil
}

// jsonScan reads a body that json.Valid accepted.
type jsonScan struct {
	b []byte
	i int
}

func (p *jsonScan) ws() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// wsThen skips white space and reports true, for use in conditions.
func (p *jsonScan) wsThen() bool { p.ws(); return true }

func (p *jsonScan) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// plainString reads a string without escapes.
func (p *jsonScan) plainString() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case '\\':
			return "", false
		}
		p.i++
	}
	return "", false
}

// str reads a string value; one with escapes is unquoted by encoding/json itself.
func (p *jsonScan) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i
	if s, ok := p.plainString(); ok {
		return s, true
	}
	p.i = start
	v, ok := p.value()
	var s string
	if !ok || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// integer reads an integer written as digits (no fraction, no exponent).
func (p *jsonScan) integer() (int, bool) {
	start := p.i
	p.eat('-')
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 0)
	return int(n), err == nil
}

// strings reads an array of strings ([] is an empty, non-nil slice, as encoding/json
// makes it).
func (p *jsonScan) strings() ([]string, bool) {
	if !p.eat('[') {
		return nil, false
	}
	out := []string{}
	for first := true; ; first = false {
		p.ws()
		if p.eat(']') {
			return out, true
		}
		if !first && !(p.eat(',') && p.wsThen()) {
			return nil, false
		}
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
}

// value returns the bytes of the value at p, as they are in the body.
func (p *jsonScan) value() ([]byte, bool) {
	start, depth := p.i, 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			p.i++
			for p.i < len(p.b) && p.b[p.i] != '"' {
				if p.b[p.i] == '\\' {
					p.i++
				}
				p.i++
			}
			p.i++
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			if depth == 0 {
				return p.b[start:p.i], p.i > start
			}
			depth--
			p.i++
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return p.b[start:p.i], p.i > start
			}
			p.i++
		default:
			p.i++
		}
		if depth == 0 && p.i > start && (p.b[start] == '"' || p.b[start] == '{' || p.b[start] == '[') {
			return p.b[start:p.i], true
		}
	}
	return p.b[start:p.i], p.i > start && depth == 0
}
