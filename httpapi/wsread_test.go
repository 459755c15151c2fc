package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/coder/websocket"
)

// TestReadFailure: how a WebSocket ends when its Read fails, by the errors
// coder/websocket returns (wrapped as it wraps them).
func TestReadFailure(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	pongTimedOut := fmt.Errorf("failed to handle control frame opPing: %w",
		fmt.Errorf("failed to write control frame opPong: %w", fmt.Errorf("failed to write frame: %w", context.DeadlineExceeded)))
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want wsFailure
		bad  bool
	}{
		{"the stream ended", ended, errors.New("failed to read frame header: EOF"), wsFailure{}, false},
		{"the client closed", live, fmt.Errorf("read: %w", websocket.CloseError{Code: websocket.StatusNormalClosure}), wsFailure{}, false},
		{"the client left", live, fmt.Errorf("failed to get reader: %w", io.EOF), wsFailure{}, false},
		{"the connection was closed", live, fmt.Errorf("failed to read: %w", net.ErrClosed), wsFailure{}, false},
		{"the pong could not be written in time", live, pongTimedOut,
			wsFailure{websocket.StatusTryAgainLater, "connection fell behind; resume with lastEventId"}, true},
		{"a frame the library refused", live, errors.New("received header with unexpected rsv bits set: false:true:false"),
			wsFailure{websocket.StatusProtocolError, "protocol error"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bad := readFailure(tc.ctx, tc.err)
			if got != tc.want || bad != tc.bad {
				t.Fatalf("readFailure = %+v, %v; want %+v, %v", got, bad, tc.want, tc.bad)
			}
		})
	}
}
