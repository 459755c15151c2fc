//go:build linux

package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Tests of a driven rawSSESink's flushNow on a real socket whose send buffer is
// small, so that the kernel takes only part of a write cycle and the background
// write has the rest.

// socketPair returns the two ends of a connected Unix stream socket; the server's
// end has a send buffer of about sndbuf bytes.
func socketPair(t *testing.T, sndbuf int) (server, peer net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetsockoptInt(fds[0], syscall.SOL_SOCKET, syscall.SO_SNDBUF, sndbuf); err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f) // a dup, made non-blocking and polled by the runtime
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// drivenSink is a taken-over stream's sink as runRawSSE makes it for a driven
// stream, on server; wakes counts its Wake calls and woke signals each.
type drivenSink struct {
	*rawSSESink
	wakes atomic.Int32
	woke  chan struct{}
}

func newDrivenSink(t *testing.T, server net.Conn, timeout time.Duration) *drivenSink {
	t.Helper()
	rc, ok := rawWriter(server)
	if !ok {
		t.Fatal("a Unix socket has no raw writer")
	}
	k := &drivenSink{woke: make(chan struct{}, 16), rawSSESink: &rawSSESink{
		conn: server, rc: rc, retry: 3 * time.Second, timeout: timeout,
		streams: &streamSet{}, header: http.Header{},
	}}
	k.setWake(func() {
		k.wakes.Add(1)
		k.woke <- struct{}{}
	})
	return k
}

// waitWake waits for the background write to end.
func (k *drivenSink) waitWake(t *testing.T) {
	t.Helper()
	select {
	case <-k.woke:
	case <-time.After(10 * time.Second):
		t.Fatal("the background write never woke the stream")
	}
}

// writeFrames writes fs to the sink's cycle.
func (k *drivenSink) writeFrames(t *testing.T, fs [][]byte) {
	t.Helper()
	for _, f := range fs {
		if err := k.write(f); err != nil {
			t.Fatal(err)
		}
	}
}

// block flushes a cycle the socket cannot take (the peer reads nothing): the sink
// is then blocked on its background write.
func (k *drivenSink) block(t *testing.T) {
	t.Helper()
	k.writeFrames(t, frames(0, 15, 4<<10))
	if err := k.Flush(); err != nil {
		t.Fatal(err)
	}
	if blocked, err := k.Blocked(); !blocked || err != nil {
		t.Fatalf("Blocked() = %v, %v; want true, nil", blocked, err)
	}
}

// frames returns n distinct SSE frames of about size bytes each (at least 24).
func frames(first, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		f := fmt.Appendf(nil, "data: %08d ", first+i)
		f = append(f, bytes.Repeat([]byte{'x'}, max(0, size-len(f)-2))...)
		out[i] = append(f, "\n\n"...)
	}
	return out
}

// peerReads reads the response the peer receives: its head, then want bytes of the
// de-chunked body, in the background (a peer that reads while the server writes).
func peerReads(peer net.Conn, want int) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(peer), nil)
		if err != nil {
			got <- []byte("bad response head: " + err.Error())
			return
		}
		b := make([]byte, want)
		n, _ := io.ReadFull(resp.Body, b)
		got <- b[:n]
	}()
	return got
}

// TestFlushNowPartialWrites: a write cycle the socket takes only part of is
// finished by the background write: Flush returns at once, Blocked reports true
// until the rest is written (and the write is counted for Close), Wake is called
// once per background write, and every frame arrives whole and in order, also the
// frames of a cycle flushed while the background write went on, which wait for it.
func TestFlushNowPartialWrites(t *testing.T) {
	for _, tc := range []struct {
		name        string
		n, size     int // one cycle, under flushAt (which would flush on its own)
		wantBlocked bool
	}{
		{"the socket takes it all", 3, 100, false},
		{"large frames, part taken", 15, 4 << 10, true},
		{"more pieces than one writev takes", 400, 100, true}, // 3 iovecs a frame, past IOV_MAX
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, peer := socketPair(t, 4<<10)
			k := newDrivenSink(t, server, 10*time.Second)
			want := []byte("retry: 3000\n\n")
			cycle := func(fs [][]byte) {
				t.Helper()
				for _, f := range fs {
					want = append(want, f...)
				}
				k.writeFrames(t, fs)
			}
			backgroundWrites := 0
			flush := func() (blocked bool) {
				t.Helper()
				if err := k.Flush(); err != nil {
					t.Fatal(err)
				}
				blocked, err := k.Blocked()
				if err != nil {
					t.Fatal(err)
				}
				if blocked {
					backgroundWrites++
				}
				return blocked
			}

			cycle(frames(0, tc.n, tc.size))
			if blocked := flush(); blocked != tc.wantBlocked {
				t.Fatalf("after the flush: Blocked() = %v, want %v", blocked, tc.wantBlocked)
			}
			if tc.wantBlocked {
				if open := k.streams.open(); open != 1 {
					t.Errorf("background writes counted: %d, want 1", open)
				}
				// A cycle flushed meanwhile waits for the background write.
				cycle(frames(tc.n, 5, 200))
				if err := k.Flush(); err != nil {
					t.Fatal(err)
				}
				if blocked, _ := k.Blocked(); !blocked || k.pending == 0 {
					t.Fatal("a flush while blocked wrote")
				}
			}
			second := 5 * 200
			if tc.wantBlocked {
				second = 0 // in want already
			}
			got := peerReads(peer, len(want)+second)
			if tc.wantBlocked {
				k.waitWake(t)
				if blocked, err := k.Blocked(); blocked || err != nil {
					t.Fatalf("after the wake: Blocked() = %v, %v", blocked, err)
				}
			} else {
				cycle(frames(tc.n, 5, 200))
			}
			if flush() { // what waited, or the second cycle
				k.waitWake(t)
			}
			b := <-got
			if !bytes.Equal(b, want) {
				t.Fatalf("the peer read %d bytes, want %d; first difference at %d", len(b), len(want), firstDiff(b, want))
			}
			waitCount(t, k.streams, 0)
			if n := int(k.wakes.Load()); n != backgroundWrites || len(k.woke) != 0 {
				t.Errorf("Wake called %d times, for %d background writes", n, backgroundWrites)
			}
		})
	}
}

// TestFlushNowPeerStopsReading: when the peer stops reading, the background write
// ends at the write deadline; Blocked reports the error, and the next Flush
// returns it (the hub ends the stream).
func TestFlushNowPeerStopsReading(t *testing.T) {
	server, _ := socketPair(t, 4<<10)
	k := newDrivenSink(t, server, 200*time.Millisecond)
	start := time.Now()
	k.block(t)
	k.waitWake(t)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("the background write gave up after %v, before its deadline", d)
	}
	blocked, err := k.Blocked()
	if blocked || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Blocked() = %v, %v; want false, a deadline error", blocked, err)
	}
	k.writeFrames(t, frames(15, 1, 100))
	if err := k.Flush(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the next Flush: %v, want the deadline error", err)
	}
	if n := k.wakes.Load(); n != 1 {
		t.Errorf("Wake called %d times, want 1", n)
	}
}

// TestFlushNowTooFarBehind: while a background write goes on, a stream keeps what
// it is given up to maxBehind; past that the client is too slow.
func TestFlushNowTooFarBehind(t *testing.T) {
	server, _ := socketPair(t, 4<<10)
	k := newDrivenSink(t, server, 10*time.Second)
	k.block(t)
	var err error
	for _, f := range frames(15, 2*maxBehind/(4<<10), 4<<10) {
		if err = k.write(f); err != nil {
			break
		}
	}
	if !errors.Is(err, errTooSlow) {
		t.Fatalf("writing past maxBehind while blocked: %v, want errTooSlow", err)
	}
	server.Close() // ends the background write
	k.waitWake(t)
}

func waitCount(t *testing.T, s *streamSet, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.open() != want {
		if time.Now().After(deadline) {
			t.Fatalf("streams counted: %d, want %d", s.open(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
