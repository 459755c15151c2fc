package httpapi

import (
	"net/http"
	"time"
)

// Request arrival and the read deadline.
//
// The server's ReadTimeout (--read-timeout) bounds the arrival of a whole request,
// headers and body: a client that announces a body and never sends it is cut off,
// instead of holding a goroutine for ever (net/http waits for a body without any
// deadline of its own). Two consequences are handled here:
//
//   - A stream is long-lived by design, so once one is established its read
//     deadline is cleared (streamEstablished). net/http already does so for HTTP/1.x
//     when it starts its background read after a request without a body, and Hijack
//     (the taken-over SSE stream, WebSocket) clears every deadline; HTTP/2 keeps a
//     per-stream read timer. Clearing it explicitly makes no stream depend on those
//     details. A taken-over stream notices its client's hang-up through the shared
//     watcher (closewatch_linux.go), which does not read, or a reading goroutine
//     with no deadline; WebSocket frames are read with no deadline.
//   - An error answered before a request's body was read (bad credentials, 429, 413)
//     would make net/http read the rest of the body, up to 256 KiB, so that the
//     connection can be reused: before it writes the answer, and again when the
//     handler returns; a client that sends the body slowly, or never, would hold the
//     connection for the whole read timeout. An error answer to a request with a body
//     closes the connection instead (closeOnError): "Connection: close" so the answer
//     is written at once, and a read deadline of now so nothing more is read.

// streamEstablished clears the connection's read deadline: what remains of the
// request is a stream, not a body still to arrive.
func streamEstablished(rc *http.ResponseController) {
	_ = rc.SetReadDeadline(time.Time{})
}

// closeOnError makes an error answer to an HTTP/1.x request that carries a body
// close the connection rather than wait for the body to be drained. (HTTP/2 needs
// nothing: an unread body is reset with its stream, and "Connection: close" there
// would shut down every stream of the connection.)
func closeOnError(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}
