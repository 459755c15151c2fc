package bench

import (
	"net/http"
	"strings"
	"testing"
)

// TestPushSink: the push service of tocsin bench push answers 201, counts each
// subscription's first push once and the rest as repeats, counts a push without
// aes128gcm or a vapid Authorization as bad, and answers 404 to an unknown path.
func TestPushSink(t *testing.T) {
	s, err := newPushSink(3)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	const vapid = "vapid t=a.b.c, k=BKEY"
	for _, tc := range []struct {
		path, ce, auth string
		want           int
	}{
		{"/p/0", "aes128gcm", vapid, 201},
		{"/p/2", "aes128gcm", vapid, 201},
		{"/p/0", "aes128gcm", vapid, 201},      // a repeat
		{"/p/1", "aesgcm", vapid, 201},         // bad encoding: counted, still arrived
		{"/p/1", "aes128gcm", "Bearer x", 201}, // bad auth: a repeat and bad
		{"/p/3", "aes128gcm", vapid, 404},      // no such subscription
		{"/p/x", "aes128gcm", vapid, 404},
	} {
		req, _ := http.NewRequest("POST", s.url+tc.path, strings.NewReader("ciphertext"))
		req.Header.Set("Content-Encoding", tc.ce)
		req.Header.Set("Authorization", tc.auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.path, tc.ce, tc.auth, resp.StatusCode, tc.want)
		}
	}
	first, last := s.snapshot()
	if d, r, b := s.distinct.Load(), s.repeats.Load(), s.bad.Load(); d != 3 || r != 2 || b != 4 {
		t.Errorf("distinct %d repeats %d bad %d, want 3 2 4", d, r, b)
	}
	for i, at := range first {
		if at.IsZero() || at.After(last) {
			t.Errorf("subscription %d first arrival %v, last %v", i, at, last)
		}
	}
}
