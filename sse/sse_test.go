package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	for _, tc := range []struct {
		name, id, ev, data, want string
	}{
		{"plain", "e-1", "notification", `{"a":1}`, "id: e-1\nevent: notification\ndata: {\"a\":1}\n\n"},
		{"no id", "", "unread", `{"n":2}`, "event: unread\ndata: {\"n\":2}\n\n"},
		{"no name", "7", "", "x", "id: 7\ndata: x\n\n"},
		{"empty data", "", "", "", "data: \n\n"},
		{"multi-line LF", "", "m", "a\nb", "event: m\ndata: a\ndata: b\n\n"},
		{"CRLF and CR", "", "", "a\r\nb\rc", "data: a\ndata: b\ndata: c\n\n"},
		{"trailing newline", "", "", "a\n", "data: a\ndata: \n\n"},
		{"id injection", "1\nevent: evil\ndata: x", "n", "d", "id: 1event: evildata: x\nevent: n\ndata: d\n\n"},
		{"name injection", "", "a\r\n\r\ndata: x", "d", "event: adata: x\ndata: d\n\n"},
		{"NUL in id", "a\x00b", "", "d", "id: ab\ndata: d\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendEvent(nil, tc.id, tc.ev, []byte(tc.data)))
			if got != tc.want {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAppendCommentAndRetry(t *testing.T) {
	if got := string(AppendComment(nil, "heartbeat")); got != ": heartbeat\n\n" {
		t.Fatalf("comment %q", got)
	}
	if got := string(AppendComment(nil, "a\nb")); got != ": ab\n\n" {
		t.Fatalf("comment with LF %q", got)
	}
	if got := string(AppendRetry(nil, 3*time.Second)); got != "retry: 3000\n\n" {
		t.Fatalf("retry %q", got)
	}
}

func TestAppendEventDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	data := []byte(`{"id":"01J","title":"hello"}`)
	if n := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], "k3-42", "notification", data) }); n != 0 {
		t.Fatalf("%v allocations per event", n)
	}
}

func decodeAll(t *testing.T, s string) ([]Event, error) {
	t.Helper()
	d := NewDecoder(strings.NewReader(s))
	var out []Event
	for {
		ev, err := d.Next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		out = append(out, ev)
	}
}

func TestDecoder(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Event
		err      error
	}{
		{"one event", "id: 1\nevent: x\ndata: d\n\n", []Event{{ID: "1", SetID: true, Name: "x", Data: "d"}}, nil},
		{"default name", "data: d\n\n", []Event{{Name: "message", Data: "d"}}, nil},
		{"multi data", "data: a\ndata: b\n\n", []Event{{Name: "message", Data: "a\nb"}}, nil},
		{"CRLF", "data: a\r\nevent: e\r\n\r\n", []Event{{Name: "e", Data: "a"}}, nil},
		{"CR", "data: a\revent: e\r\r", []Event{{Name: "e", Data: "a"}}, nil},
		{"BOM", "\xEF\xBB\xBFdata: a\n\n", []Event{{Name: "message", Data: "a"}}, nil},
		{"no space", "data:a\n\n", []Event{{Name: "message", Data: "a"}}, nil},
		{"two spaces", "data:  a\n\n", []Event{{Name: "message", Data: " a"}}, nil},
		{"field only", "data\n\n", []Event{{Name: "message", Data: ""}}, nil},
		{"comment", ": heartbeat\n\n", []Event{{Comment: "heartbeat", IsComment: true}}, nil},
		{"id persists", "id: 5\ndata: a\n\ndata: b\n\n", []Event{{ID: "5", SetID: true, Name: "message", Data: "a"}, {ID: "5", Name: "message", Data: "b"}}, nil},
		{"id with NUL ignored", "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", []Event{{ID: "1", SetID: true, Name: "message", Data: "a"}, {ID: "1", Name: "message", Data: "b"}}, nil},
		{"retry only", "retry: 3000\n\n", []Event{{Retry: 3 * time.Second}}, nil},
		{"bad retry ignored", "retry: 3s\ndata: a\n\n", []Event{{Name: "message", Data: "a"}}, nil},
		{"no data no dispatch", "event: x\n\ndata: a\n\n", []Event{{Name: "message", Data: "a"}}, nil},
		{"unknown field", "foo: bar\ndata: a\n\n", []Event{{Name: "message", Data: "a"}}, nil},
		{"unterminated", "data: a\n", nil, nil},
		{"unterminated line", "data: a", nil, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAll(t, tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("event %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestDecoderLineLimit(t *testing.T) {
	d := NewDecoderSize(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 50)
	if _, err := d.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err %v, want ErrLineTooLong", err)
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	buf := make([]byte, 0, 512)
	data := []byte(`{"id":"01JD3Q4M8Z6N2V0X9Y7W5T3R1P","userId":"42","type":"comment","title":"New comment","body":"Nice post!","priority":3}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		buf = AppendEvent(buf[:0], "k3v9q2xa-123456", "notification", data)
	}
}

func BenchmarkDecoder(b *testing.B) {
	frame := string(AppendEvent(nil, "k3v9q2xa-1", "notification", []byte(`{"id":"01JD3Q4M8Z6N2V0X9Y7W5T3R1P","title":"x"}`)))
	stream := strings.Repeat(frame, 1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		d := NewDecoder(strings.NewReader(stream))
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}
