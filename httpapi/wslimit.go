package httpapi

import (
	"github.com/coder/websocket"

	"github.com/tocsin/tocsin"
)

// WebSocket commands and the per-user rate.
//
// Every frame a client sends (notification:read, :seen, :read_all, ping, or one
// that is not valid) draws from the user's request bucket, the very one the REST
// inbox routes draw from (--rate-user): a socket is no way around the rate. Over the
// rate a frame is not acted on and is answered with an error frame
// ({"event":"error","data":{"code":"rate_limited","message":"... retry in Ns"}}),
// and the socket stays open; a client that goes on sending wsMaxRefused frames in a
// row that are all refused is closed with 4429 (too many requests), as a connection
// that only floods.

// wsMaxRefused is how many refused frames in a row close the socket.
const wsMaxRefused = 32

// wsAllow reports whether a client frame of userID may be acted on. refused counts
// the connection's refusals in a row; past wsMaxRefused the socket is closed.
func (s *Server) wsAllow(c *websocket.Conn, sink *wsSink, userID string, refused *int) bool {
	err := s.checkLimit(limitUser, tocsin.Principal{Kind: tocsin.PrincipalUser, UserID: userID}, func(string, string) {})
	if err == nil {
		*refused = 0
		return true
	}
	if *refused++; *refused >= wsMaxRefused {
		c.Close(closeTooMany, "too many commands over the rate limit; reconnect later")
		return false
	}
	s.wsError(sink, err)
	return false
}
