//go:build linux

package httpapi

import (
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
type closeWatcher struct {
	once sync.Once
	epfd int
	err  error

	mu      sync.Mutex
	gen     int32 // tells a registration from an earlier one of a reused fd
	watched map[int32]watch
}

type watch struct {
	gen  int32
	gone func()
}

var watcher closeWatcher

func (w *closeWatcher) start() {
	w.epfd, w.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if w.err != nil {
		return
	}
	w.watched = map[int32]watch{}
	go w.loop()
}

func (w *closeWatcher) loop() {
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
	w.gen++
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
		if cur, still := w.watched[fd]; still && cur.gen == gen {
			delete(w.watched, fd)
			_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
		}
		w.mu.Unlock()
	}, true
}
