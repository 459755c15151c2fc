package hub

import (
	"context"
	"strings"
	"testing"

	"github.com/tocsin/tocsin"
)

// TestKeyedSlots: the per-token and per-address caps refuse a stream past them with
// ETooMany, count nothing they refused, and give a slot back when a stream ends; a
// user's slots count that user's streams wherever they are, and no one else's.
func TestKeyedSlots(t *testing.T) {
	refused := func(t *testing.T, f *fixture, req SubscribeRequest, want string) {
		t.Helper()
		err := f.h.Serve(context.Background(), req, newRecSink())
		if tocsin.ErrorCodeOf(err) != tocsin.ETooMany || !strings.Contains(err.Error(), want) {
			t.Fatalf("%+v: %v, want ETooMany about %q", req, err, want)
		}
	}
	open := func(t *testing.T, f *fixture, req SubscribeRequest) context.CancelFunc {
		t.Helper()
		n := f.h.OpenStreams()
		cancel, _ := f.serve(t, req, newRecSink())
		waitStreams(t, f.h, n+1)
		return cancel
	}
	topic := tocsin.TopicStream("news")
	t.Run("per token", func(t *testing.T) {
		f := newFixture(t, Config{MaxStreamsPerToken: 2})
		tok := SubscribeRequest{Stream: topic, TokenID: "tok_a"}
		first := open(t, f, tok)
		open(t, f, tok)
		refused(t, f, tok, "stream token")
		other := tok
		other.TokenID = "tok_b"
		open(t, f, other) // another token has slots of its own
		first()
		waitStreams(t, f.h, 2)
		open(t, f, tok) // the ended stream gave its slot back
	})
	t.Run("per address", func(t *testing.T) {
		f := newFixture(t, Config{MaxStreamsPerAddr: 2})
		open(t, f, SubscribeRequest{UserID: "a", ClientAddr: "192.0.2.1"})
		open(t, f, SubscribeRequest{UserID: "b", ClientAddr: "192.0.2.1"})
		refused(t, f, SubscribeRequest{UserID: "c", ClientAddr: "192.0.2.1"}, "your address")
		open(t, f, SubscribeRequest{UserID: "c", ClientAddr: "192.0.2.2"})
		open(t, f, SubscribeRequest{UserID: "c"}) // no address: not counted
		waitStreams(t, f.h, 4)
	})
	t.Run("a user's slots are the user's streams, not its stream's subscribers", func(t *testing.T) {
		f := newFixture(t, Config{MaxStreamsPerUser: 1})
		// Ten users on one topic: each has one stream.
		for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10"} {
			open(t, f, SubscribeRequest{Stream: topic, UserID: u})
		}
		// A capability token on user:u11's stream takes none of u11's slots...
		open(t, f, SubscribeRequest{Stream: tocsin.UserStream("u11"), TokenID: "tok_c", NoInit: true})
		open(t, f, SubscribeRequest{UserID: "u11"})
		// ...but u1's second stream is past its cap.
		refused(t, f, SubscribeRequest{UserID: "u1"}, "1 open streams")
	})
	t.Run("close-oldest evicts the user's own oldest, never a token's", func(t *testing.T) {
		f := newFixture(t, Config{MaxStreamsPerUser: 1, CloseOldest: true})
		_, tokDone := f.serve(t, SubscribeRequest{Stream: tocsin.UserStream("u1"), TokenID: "tok_d", NoInit: true}, newRecSink())
		waitStreams(t, f.h, 1)
		old := newRecSink()
		_, oldDone := f.serve(t, SubscribeRequest{UserID: "u1"}, old)
		old.next(t)
		nu := newRecSink()
		f.serve(t, SubscribeRequest{UserID: "u1"}, nu)
		nu.next(t)
		if err := <-oldDone; err != ErrReplaced {
			t.Fatalf("old stream ended with %v", err)
		}
		select {
		case err := <-tokDone:
			t.Fatalf("the token's stream ended: %v", err)
		default:
		}
		waitStreams(t, f.h, 2)
	})
}
