package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// Event is what the Decoder reports: a dispatched event, a comment, or a retry hint.
type Event struct {
	// ID is the last event id in force when the event was dispatched (it persists
	// across events, as in browsers, until a frame sets another).
	ID string
	// SetID reports whether this frame itself had an id field (a frame without one
	// leaves the resume point where it was).
	SetID bool
	// Name is the event type; "message" when the frame set none. Empty for a comment
	// or a retry-only frame.
	Name string
	// Data is the data lines joined with "\n".
	Data string
	// Retry is the reconnection time a frame set (0 when none).
	Retry time.Duration
	// Comment is the text of a comment line (": text"), reported on its own with
	// Name == "" so that callers can see heartbeats.
	Comment string
	// IsComment marks a comment report (Comment may be empty for a bare ":").
	IsComment bool
}

// DefaultMaxLine bounds one line of the stream.
const DefaultMaxLine = 1 << 20

// ErrLineTooLong is returned when a line exceeds the decoder's limit.
var ErrLineTooLong = errors.New("sse: line too long")

// Decoder reads events from an SSE byte stream.
type Decoder struct {
	r       *bufio.Reader
	maxLine int
	started bool
	lastID  string
	line    []byte
	afterCR bool // the previous line ended with CR
}

// NewDecoder returns a decoder reading r with lines bounded by DefaultMaxLine.
func NewDecoder(r io.Reader) *Decoder {
	return NewDecoderSize(r, DefaultMaxLine)
}

// NewDecoderSize returns a decoder whose lines may be at most maxLine bytes.
func NewDecoderSize(r io.Reader, maxLine int) *Decoder {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 16<<10)
	}
	return &Decoder{r: br, maxLine: maxLine}
}

// Next returns the next event, comment or retry hint. At the end of the stream it
// returns io.EOF; an event not terminated by a blank line is discarded, as browsers do.
func (d *Decoder) Next() (Event, error) {
	var data strings.Builder
	hasData := false
	name := ""
	var retry time.Duration
	setID := false
	for {
		line, err := d.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 { // blank line: dispatch
			if !hasData {
				if retry > 0 {
					return Event{ID: d.lastID, SetID: setID, Retry: retry}, nil
				}
				name, setID = "", false
				continue
			}
			if name == "" {
				name = "message"
			}
			return Event{ID: d.lastID, SetID: setID, Name: name, Data: data.String(), Retry: retry}, nil
		}
		if line[0] == ':' {
			c := line[1:]
			if len(c) > 0 && c[0] == ' ' {
				c = c[1:]
			}
			return Event{ID: d.lastID, Comment: string(c), IsComment: true}, nil
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			name = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				d.lastID = string(value)
				setID = true
			}
		case "retry":
			if n, ok := digits(value); ok {
				retry = time.Duration(n) * time.Millisecond
			}
		}
	}
}

func digits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// readLine returns the next line without its terminator (CRLF, CR or LF). The
// returned slice is valid until the next call.
func (d *Decoder) readLine() ([]byte, error) {
	d.line = d.line[:0]
	for {
		c, err := d.r.ReadByte()
		if err != nil {
			if err == io.EOF && len(d.line) > 0 {
				// An unterminated last line is not a line; the event is incomplete.
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if d.afterCR {
			d.afterCR = false
			if c == '\n' {
				continue // the LF of a CRLF whose CR ended the previous line
			}
		}
		switch c {
		case '\n':
			return d.stripBOM(), nil
		case '\r':
			// End the line now (do not wait for a possible LF, which may come much
			// later on a live stream) and skip that LF if it follows.
			d.afterCR = true
			return d.stripBOM(), nil
		}
		if len(d.line) >= d.maxLine {
			return nil, ErrLineTooLong
		}
		d.line = append(d.line, c)
	}
}

// stripBOM drops a UTF-8 byte order mark at the very start of the stream.
func (d *Decoder) stripBOM() []byte {
	if !d.started {
		d.started = true
		return bytes.TrimPrefix(d.line, []byte("\xEF\xBB\xBF"))
	}
	return d.line
}
