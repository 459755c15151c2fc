// Package sse is the Server-Sent Events wire format: an encoder that no input can
// make break the framing, and a decoder that reads a stream exactly as browsers do
// (the WHATWG HTML "event stream interpretation"). It does no I/O of its own beyond
// the reader it is given.
package sse

import (
	"strconv"
	"time"
)

// AppendEvent appends one event frame to dst and returns the extended slice:
//
//	id: <id>        (omitted when id is "")
//	event: <name>   (omitted when name is "")
//	data: <line>    (one per line of data; one empty "data: " line for empty data)
//	<blank line>
//
// CR, LF and NUL are removed from id and name, so neither can end its line early
// (and browsers ignore ids containing NUL). data is split at every CRLF, CR and LF into
// separate data lines, which a client joins back with "\n". No input can produce a
// frame that ends early or injects a field. It does not allocate when dst has room.
func AppendEvent(dst []byte, id, name string, data []byte) []byte {
	if id != "" {
		dst = append(dst, "id: "...)
		dst = appendField(dst, id)
		dst = append(dst, '\n')
	}
	if name != "" {
		dst = append(dst, "event: "...)
		dst = appendField(dst, name)
		dst = append(dst, '\n')
	}
	dst = append(dst, "data: "...)
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			dst = append(dst, "\ndata: "...)
		case '\n':
			dst = append(dst, "\ndata: "...)
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '\n', '\n')
}

// AppendComment appends a comment frame (": text" and a blank line), which clients
// ignore; it keeps idle connections open through proxies. CR, LF and NUL are removed.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ": "...)
	dst = appendField(dst, text)
	return append(dst, '\n', '\n')
}

// AppendRetry appends a "retry:" field telling the client how long to wait before
// reconnecting, in milliseconds, as its own frame.
func AppendRetry(dst []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	if ms < 0 {
		ms = 0
	}
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '\n', '\n')
}

// appendField appends s without CR, LF and NUL.
func appendField(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\r' && c != '\n' && c != 0 {
			dst = append(dst, c)
		}
	}
	return dst
}
