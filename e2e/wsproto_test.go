package e2e

import (
	"bufio"
	be "encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawWS is a WebSocket client written by hand over TCP, so a test can send frames no
// library would (unmasked, invalid UTF-8).
type rawWS struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func (n *node) rawWS(t *testing.T, path string) *rawWS {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + strings.TrimPrefix(n.URL, "http://") + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", err, resp)
	}
	return &rawWS{t: t, conn: conn, br: br}
}

// send writes one final text frame; masked as RFC 6455 requires of a client, or not.
func (w *rawWS) send(payload []byte, masked bool) {
	w.t.Helper()
	if len(payload) > 125 {
		w.t.Fatal("rawWS sends short frames only")
	}
	frame := []byte{0x81, byte(len(payload))}
	if masked {
		key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
		frame[1] |= 0x80
		frame = append(frame, key[:]...)
		for i, b := range payload {
			frame = append(frame, b^key[i%4])
		}
	} else {
		frame = append(frame, payload...)
	}
	if _, err := w.conn.Write(frame); err != nil {
		w.t.Fatal(err)
	}
}

// next reads one server frame: its opcode and payload.
func (w *rawWS) next() (opcode byte, payload []byte) {
	w.t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		w.t.Fatalf("read frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		w.t.Fatal("the server masked a frame")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(w.br, b[:])
		n = uint64(be.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(w.br, b[:])
		n = be.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(w.br, payload); err != nil {
		w.t.Fatalf("read payload: %v", err)
	}
	return h[0] & 0x0f, payload
}

// closeCode reads frames until the server's close frame and returns its code.
func (w *rawWS) closeCode() int {
	w.t.Helper()
	for {
		op, p := w.next()
		if op == 0x8 {
			if len(p) < 2 {
				return 1005 // no status
			}
			return int(be.BigEndian.Uint16(p[:2]))
		}
	}
}

// TestWebSocketProtocolViolationsFailTheConnection: frames written by hand. A text
// frame that is not UTF-8 closes the connection with 1007 (RFC 6455 §8.1); an
// unmasked client frame with 1002 (§5.1: the server must fail the connection).
func TestWebSocketProtocolViolationsFailTheConnection(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	path := "/api/notifications/ws?token=" + userToken(t, "raw")

	t.Run("well-formed frames work", func(t *testing.T) {
		w := n.rawWS(t, path)
		if op, p := w.next(); op != 0x1 || !strings.Contains(string(p), `"event":"init"`) {
			t.Fatalf("first frame %x %s", op, p)
		}
		w.send([]byte(`{"type":"ping"}`), true)
		if op, p := w.next(); op != 0x1 || string(p) != `{"event":"pong"}` {
			t.Fatalf("answer to ping: %x %s", op, p)
		}
	})
	for _, tc := range []struct {
		name    string
		payload []byte
		masked  bool
		code    int
	}{
		{"invalid UTF-8", []byte{0xff, 0xfe, 0xfd}, true, 1007},
		{"invalid UTF-8 inside JSON", []byte("{\"type\":\"\xc3\x28\"}"), true, 1007},
		{"a lone surrogate half", []byte("{\"type\":\"\xed\xa0\x80\"}"), true, 1007},
		{"unmasked frame", []byte(`{"type":"ping"}`), false, 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := n.rawWS(t, path)
			if op, p := w.next(); op != 0x1 || !strings.Contains(string(p), `"event":"init"`) {
				t.Fatalf("first frame %x %s", op, p)
			}
			w.send(tc.payload, tc.masked)
			if code := w.closeCode(); code != tc.code {
				t.Fatalf("closed with %d, want %d", code, tc.code)
			}
		})
	}
}
