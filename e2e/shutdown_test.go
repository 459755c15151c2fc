package e2e

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestShutdownWaitsForStreamsBeforeClosingTheStore: a graceful shutdown with open
// SSE streams (taken over, driven by the hub's workers) and WebSocket streams (whose
// clients keep sending commands that write to the store) tells every stream to
// reconnect, returns within its timeout, and closes the store only after every
// stream has ended: no stream is still open when Shutdown returns, and nothing
// meets a closed store (no error in the log, no error frame).
func TestShutdownWaitsForStreamsBeforeClosingTheStore(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	n := startNodeLog(t, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	var sse []*stream
	var wss []*wsConn
	for i := range 3 {
		tok := userToken(t, "sd"+string(rune('a'+i)))
		s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+tok)
		s.expect("init")
		sse = append(sse, s)
		w := n.dialWS("/api/notifications/ws", "Authorization", "Bearer "+tok)
		w.expect("init")
		wss = append(wss, w)
	}
	// The WebSocket clients write to the store through their streams until the end.
	stop := make(chan struct{})
	defer close(stop)
	for _, w := range wss {
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				err := w.c.Write(ctx, websocket.MessageText, []byte(`{"type":"notification:read_all"}`))
				cancel()
				if err != nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)

	const timeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := n.app.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d >= timeout {
		t.Fatalf("shutdown took %v, its timeout is %v", d, timeout)
	}
	if open := n.app.Hub().OpenStreams(); open != 0 {
		t.Fatalf("%d streams still open when Shutdown returned", open)
	}
	for _, s := range sse {
		sawRetry := false
		for ev := range s.events {
			if ev.Retry > 0 {
				sawRetry = true
			}
		}
		if !sawRetry {
			t.Error("an SSE stream ended without a retry hint")
		}
	}
	for _, w := range wss {
		for f := range w.frames {
			if f.Event == "error" {
				t.Errorf("a WebSocket command failed during shutdown: %s", f.raw)
			}
		}
		if err := <-w.closed; websocket.CloseStatus(err) != websocket.StatusServiceRestart {
			t.Errorf("WebSocket closed with %v, want %d", err, websocket.StatusServiceRestart)
		}
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "closed") && strings.Contains(line, "err=") {
			t.Errorf("log: %s", line)
		}
	}
}
