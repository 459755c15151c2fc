//go:build !linux

package httpapi

import "net"

type closeWatcher struct{}

// watch is not available off Linux: the caller falls back to a reading goroutine.
func (*closeWatcher) watch(net.Conn, func()) (func(), bool) { return nil, false }

func (*closeWatcher) close() {}
