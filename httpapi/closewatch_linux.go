//go:build linux

package httpapi

import (
	"errors"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// closeWatcher tells when the peers of many taken-over connections hang up, with one
// epoll instance and one goroutine for all of them, instead of one goroutine parked
// in Read per connection: an idle SSE stream then costs no goroutine of its own for
// this. SSE clients send nothing after the request, so any readability (EOF, reset,
// stray bytes) ends the stream.
//
// Each Server has one, started by the first watch and stopped by close (Server.Close).
type closeWatcher struct {
	once sync.Once
	epfd int
	efd  int // an eventfd in the epoll set: close writes to it to end the loop
	err  error
	done chan struct{} // closed when the loop has returned

	mu      sync.Mutex
	closed  bool
	gen     int32 // tells a registration from an earlier one of a reused fd (from 1)
	watched map[int32]watch
}

type watch struct {
	gen  int32
	gone func()
}

func (w *closeWatcher) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.err = errWatcherClosed
		return
	}
	w.epfd, w.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if w.err != nil {
		return
	}
	w.efd, w.err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if w.err != nil {
		_ = unix.Close(w.epfd)
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(w.efd)} // Pad 0: no watch's gen
	if w.err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, w.efd, &ev); w.err != nil {
		_ = unix.Close(w.efd)
		_ = unix.Close(w.epfd)
		return
	}
	w.watched = map[int32]watch{}
	w.done = make(chan struct{})
	go w.loop()
}

var errWatcherClosed = errors.New("close watcher stopped")

// close stops the loop and waits for it; watches made after it fail (their callers
// fall back to a reading goroutine). The connections still watched are not told.
func (w *closeWatcher) close() {
	w.once.Do(func() {}) // a watcher never started stays so
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	started := w.done != nil
	w.mu.Unlock()
	if !started {
		return
	}
	one := [8]byte{1}
	_, _ = unix.Write(w.efd, one[:])
	<-w.done
	_ = unix.Close(w.epfd)
	_ = unix.Close(w.efd)
}

func (w *closeWatcher) loop() {
	defer close(w.done)
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(w.efd) && ev.Pad == 0 {
				return // close
			}
			w.mu.Lock()
			cur, ok := w.watched[ev.Fd]
			if ok && cur.gen == ev.Pad {
				delete(w.watched, ev.Fd)
				_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			} else {
				ok = false // an event of an fd since closed and reused
			}
			w.mu.Unlock()
			if ok {
				cur.gone()
			}
		}
	}
}

// watch calls gone (once) when conn's peer hangs up or sends anything. It returns a
// function that stops watching (call it before closing conn), or ok=false when conn
// cannot be watched this way (the caller then falls back to a reading goroutine).
func (w *closeWatcher) watch(conn net.Conn, gone func()) (stop func(), ok bool) {
	w.once.Do(w.start)
	if w.err != nil {
		return nil, false
	}
	sc, isSys := conn.(syscall.Conn)
	if !isSys {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	var fd int32 = -1
	_ = raw.Control(func(f uintptr) { fd = int32(f) })
	if fd < 0 {
		return nil, false
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil, false
	}
	w.gen++
	if w.gen <= 0 {
		w.gen = 1 // 0 is the eventfd's
	}
	gen := w.gen
	w.watched[fd] = watch{gen: gen, gone: gone}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: fd, Pad: gen}
	err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	if err != nil {
		delete(w.watched, fd)
	}
	w.mu.Unlock()
	if err != nil {
		return nil, false
	}
	return func() {
		w.mu.Lock()
		// After close the epoll fd is gone (its number may be another file's).
		if cur, still := w.watched[fd]; still && cur.gen == gen && !w.closed {
			delete(w.watched, fd)
			_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		}
		w.mu.Unlock()
	}, true
}
