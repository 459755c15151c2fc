package sse

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// FuzzAppendEvent: whatever the id, name and data, the frame decodes back to exactly
// one event with the sanitised id and name and the data with line endings made "\n".
func FuzzAppendEvent(f *testing.F) {
	f.Add("k3-1", "notification", []byte(`{"a":1}`))
	f.Add("1\nevent: x", "a\r\nb", []byte("x\r\ny\rz\n"))
	f.Add("", "", []byte(""))
	f.Add("\x00", ":", []byte("\n\n\n"))
	f.Add("id", "data", []byte("data: injected\n\nid: 9"))
	f.Fuzz(func(t *testing.T, id, name string, data []byte) {
		frame := AppendEvent(nil, id, name, data)
		d := NewDecoder(bytes.NewReader(frame))
		ev, err := d.Next()
		if err != nil {
			t.Fatalf("frame %q does not decode: %v", frame, err)
		}
		wantID := strip(id)
		wantName := strip(name)
		if wantName == "" {
			wantName = "message"
		}
		wantData := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
		if ev.IsComment || ev.ID != wantID || ev.SetID != (id != "") || ev.Name != wantName || ev.Data != wantData {
			t.Fatalf("frame %q decoded as %+v; want id %q name %q data %q", frame, ev, wantID, wantName, wantData)
		}
		if extra, err := d.Next(); err != io.EOF {
			t.Fatalf("frame %q holds more than one event: %+v (%v)", frame, extra, err)
		}
	})
}

func strip(s string) string {
	return strings.NewReplacer("\r", "", "\n", "", "\x00", "").Replace(s)
}

// FuzzDecoder: any byte stream decodes without panicking, within the line bound.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("id: 1\nevent: x\ndata: d\n\n"))
	f.Add([]byte("\xEF\xBB\xBF: c\r\ndata\r\rretry: 10\n\n"))
	f.Add([]byte("data: a\rdata: b\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoderSize(bytes.NewReader(in), 4096)
		for i := 0; i <= len(in); i++ {
			ev, err := d.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > len(in) || len(ev.ID) > len(in) {
				t.Fatalf("decoded more than was read: %+v", ev)
			}
		}
		t.Fatalf("more events than input bytes")
	})
}
