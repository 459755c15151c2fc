package httpapi

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/sse"
)

// rawSSESink writes one stream's SSE frames to a connection taken over from
// net/http (rawconn.go), as a chunked HTTP/1.1 response it frames itself. Frames of
// one write cycle are kept as references (the shared encodings are immutable) and
// sent in one writev at Flush.
//
// With rc set (a plain TCP connection on Linux) the stream is driven by the hub's
// workers (hub.AsyncSink), and Flush never waits: it writes what the socket takes at
// once, and when the socket buffer is full, a goroutine of its own writes the rest
// with a deadline and then wakes the stream. Only a stream whose client is slow has
// that goroutine, and only while it is behind. Without rc (TLS, other systems) the
// stream has a goroutine of its own, and Flush writes with a deadline.
//
// An idle stream keeps only this struct (and the hub's state): it is measured (≤ 6.5
// KiB per idle stream in all), so nothing here grows per stream without need.
type rawSSESink struct {
	conn    net.Conn
	rc      syscall.RawConn
	retry   time.Duration // the retry hint, the first chunk
	timeout time.Duration // the deadline of each blocking write
	enc     sseEncoding
	stop    func()     // ends the hang-up watch (watchHangUp)
	streams *streamSet // counts the background write, so Close waits for it
	rec     accessRecord
	// header is the response's header until the first write sends the head.
	header  http.Header
	started bool
	bufs    net.Buffers // pending: chunk header, frame, CRLF, ...
	hdrs    []byte      // backing store of this cycle's chunk headers
	pending int

	// The background write of a flush the socket did not take whole.
	mu      sync.Mutex
	blocked bool
	werr    error
	wake    func()
	bgDone  chan struct{} // closed when the background write ends
}

var _ hub.AsyncSink = (*rawSSESink)(nil)

func (k *rawSSESink) Event(d *hub.Delivery) error { return k.write(k.enc.frame(d)) }

// Batch and Control make fresh frames: they are kept until Flush, so no scratch
// buffer is reused (nor kept by an idle stream).
func (k *rawSSESink) Batch(ds []*hub.Delivery, unread int) error {
	return k.write(batchFrame(ds, appendBatchData(nil, ds), unread))
}

func (k *rawSSESink) Control(name, id string, data []byte) error {
	return k.write(sse.AppendEvent(nil, id, name, data))
}

func (k *rawSSESink) Heartbeat() error { return k.write(heartbeatFrame) }

// Flush sends what was written. The hub's first Flush comes once the stream has
// begun, so it also starts a stream that had nothing to write yet (no init).
func (k *rawSSESink) Flush() error {
	if err := k.write(nil); err != nil {
		return err
	}
	if len(k.bufs) == 0 {
		return nil
	}
	if k.rc != nil {
		return k.flushNow()
	}
	if err := k.conn.SetWriteDeadline(time.Now().Add(k.timeout)); err != nil {
		return err
	}
	v := k.bufs
	_, err := v.WriteTo(k.conn)
	k.reset()
	return err
}

// flushAt bounds what one cycle keeps before writing (a long replay).
const flushAt = 64 << 10

// maxBehind bounds what a driven stream keeps while its background write goes on
// (a catch-up from the store writes without the queue's bound); past it the client
// is too slow, and resumes by Last-Event-ID.
const maxBehind = 1 << 20

var errTooSlow = errors.New("client reads too slowly")

// write adds b to the cycle as one chunk; the first write adds the response's head
// and the retry hint before it.
func (k *rawSSESink) write(b []byte) error {
	if !k.started {
		k.started = true
		setSSEHeaders(k.header)
		k.header.Set("Transfer-Encoding", "chunked")
		k.header.Set("Connection", "close")
		k.bufs = append(k.bufs, appendHead(make([]byte, 0, 512), http.StatusOK, k.header))
		k.header = nil
		if err := k.write(sse.AppendRetry(nil, k.retry)); err != nil {
			return err
		}
	}
	if len(b) == 0 {
		return nil
	}
	start := len(k.hdrs)
	k.hdrs = strconv.AppendInt(k.hdrs, int64(len(b)), 16)
	k.hdrs = append(k.hdrs, crlf...)
	k.bufs = append(k.bufs, k.hdrs[start:len(k.hdrs):len(k.hdrs)], b, crlf)
	k.pending += len(b)
	if k.pending >= flushAt {
		return k.Flush()
	}
	return nil
}

// reset empties the cycle's buffers for reuse.
func (k *rawSSESink) reset() {
	clear(k.bufs)
	k.bufs, k.hdrs, k.pending = k.bufs[:0], k.hdrs[:0], 0
	if cap(k.bufs) > 48 {
		k.bufs, k.hdrs = nil, nil // give back what a burst grew
	}
}

// flushNow writes what the socket takes at once and leaves the rest to a background
// write. While one runs, nothing more is written (the hub waits for Blocked to turn
// false; what is written meanwhile at the stream's end is dropped with the
// connection).
func (k *rawSSESink) flushNow() error {
	k.mu.Lock()
	blocked, err, wake, bg := k.blocked, k.werr, k.wake, k.bgDone
	k.mu.Unlock()
	switch {
	case err != nil:
		return err
	case blocked && wake == nil:
		// Still beginning (a long replay), on the stream's own goroutine: wait.
		<-bg
		if _, err := k.Blocked(); err != nil {
			return err
		}
	case blocked && k.pending > maxBehind:
		return errTooSlow
	case blocked:
		return nil // kept until the background write is over
	}
	n, err := writeNow(k.rc, k.bufs)
	if err != nil {
		k.reset()
		return err
	}
	rest := k.bufs
	for len(rest) > 0 && n >= len(rest[0]) {
		n -= len(rest[0])
		rest = rest[1:]
	}
	if len(rest) == 0 {
		k.reset()
		return nil
	}
	// The rest refers to this cycle's buffers: hand them over and start afresh.
	rest = append(net.Buffers{rest[0][n:]}, rest[1:]...)
	k.bufs, k.hdrs, k.pending = nil, nil, 0
	k.mu.Lock()
	k.blocked, k.bgDone = true, make(chan struct{})
	k.mu.Unlock()
	k.streams.goCounted(func() { k.finish(rest) })
	return nil
}

// finish writes what the socket did not take, with a deadline, then wakes the stream.
func (k *rawSSESink) finish(rest net.Buffers) {
	err := k.conn.SetWriteDeadline(time.Now().Add(k.timeout))
	if err == nil {
		_, err = rest.WriteTo(k.conn)
	}
	k.mu.Lock()
	k.blocked, k.werr = false, err
	wake := k.wake
	close(k.bgDone)
	k.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// Blocked reports whether a background write is going on, and how the last one
// failed (hub.AsyncSink).
func (k *rawSSESink) Blocked() (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.blocked, k.werr
}

// setWake gives the sink what tells its driven stream a background write is over.
func (k *rawSSESink) setWake(wake func()) {
	k.mu.Lock()
	k.wake = wake
	k.mu.Unlock()
}

// lastChunk ends a chunked response.
var lastChunk = []byte("0\r\n\r\n")

// close ends the response (the last chunk) and the connection. A driven stream's
// close never waits: the last chunk goes only if the socket takes it at once.
func (k *rawSSESink) close() {
	if k.stop != nil {
		k.stop()
	}
	if k.rc != nil {
		if blocked, err := k.Blocked(); !blocked && err == nil {
			_, _ = writeNow(k.rc, append(k.bufs, lastChunk))
		}
	} else {
		_ = k.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = k.conn.Write(lastChunk)
	}
	_ = k.conn.Close()
}
