package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/sse"
)

// FuzzDecodePublish feeds arbitrary bodies through the publish request path up to the
// stored notification and its SSE frame. Whatever the input, decoding and validation
// either fail with a client error (never a panic, never an internal error), or yield
// a notification whose JSON is valid and whose SSE frame decodes back to exactly one
// event with the same data. Seeds are in testdata/fuzz/FuzzDecodePublish.
func FuzzDecodePublish(f *testing.F) {
	f.Add([]byte(`{"userId":"42","title":"hi","body":"a\nb","tags":["x"],"data":{"k":1}}`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var in tocsin.PublishInput
		err := decodeJSON(body, &in)
		if err == nil {
			err = in.Validate(now)
		}
		if err != nil {
			if code := tocsin.ErrorCodeOf(err); code != tocsin.EInvalid || tocsin.ErrorMessageOf(err) == "" {
				t.Fatalf("error %v has code %q; want invalid_request with a message", err, code)
			}
			return
		}
		n := in.Template()
		n.ID, n.UserID, n.CreatedAt = "01JAAAAAAAAAAAAAAAAAAAAAAA", "u", now
		data, err := json.Marshal(&n)
		if err != nil {
			t.Fatalf("a valid notification does not encode: %v", err)
		}
		if !json.Valid(data) {
			t.Fatalf("invalid JSON %q", data)
		}
		frame := sse.AppendEvent(nil, "e-1", n.Type, data)
		dec := sse.NewDecoder(bytes.NewReader(frame))
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("frame %q does not decode: %v", frame, err)
		}
		if ev.Name != n.Type || ev.ID != "e-1" || ev.Data != string(data) {
			t.Fatalf("frame %q decoded to %+v", frame, ev)
		}
		if _, err := dec.Next(); err == nil {
			t.Fatalf("frame %q holds more than one event", frame)
		}
	})
}

// FuzzDecodePatch checks the PATCH body decoder likewise: a client error or a patch.
func FuzzDecodePatch(f *testing.F) {
	f.Add([]byte(`{"read":true,"seen":false}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var p tocsin.Patch
		if err := decodeJSON(body, &p); err != nil && tocsin.ErrorCodeOf(err) != tocsin.EInvalid {
			t.Fatalf("error %v is not invalid_request", err)
		}
	})
}
