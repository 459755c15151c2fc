package hub

import (
	"slices"
	"sync"

	"github.com/tocsin/tocsin"
)

// slotCounts counts this node's open streams per user, per capability token and per
// client address: the keyed slots that register checks against the caps
// (MaxStreamsPerUser, MaxStreamsPerToken, MaxStreamsPerAddr) and every stream's end
// gives back. A count is kept only while the key has open streams.
//
// Which counts an open stream holds is recorded on it (Stream.held), under mu, so
// giving them back is idempotent: a stream evicted by close-oldest has given its
// slots back when it was evicted, and its own unregister gives back nothing.
//
// mu is a leaf: register takes it inside its shard's lock; nothing is taken inside it.
type slotCounts struct {
	mu     sync.Mutex
	users  map[string]int
	tokens map[string]int
	addrs  map[string]int
}

// Which keyed slots an open stream holds.
const (
	heldUser uint8 = 1 << iota
	heldToken
	heldAddr
)

func newSlotCounts() slotCounts {
	return slotCounts{users: map[string]int{}, tokens: map[string]int{}, addrs: map[string]int{}}
}

// take gives s its slots, or refuses with ETooMany naming the cap it would pass.
// subs are the open streams of s's stream id: with cfg.CloseOldest, a user at its cap
// takes the slot of its oldest stream among them, which the caller must kick
// (evicted). The per-token and per-address caps are never made room for: closing
// someone's stream to admit another from the same token or address would let that
// token or address take over every slot anyway.
func (c *slotCounts) take(s *Stream, subs []*Stream, cfg *Config) (evicted *Stream, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if max := cfg.MaxStreamsPerToken; s.tokenID != "" && max > 0 && c.tokens[s.tokenID] >= max {
		return nil, tocsin.Errorf(tocsin.ETooMany, "this stream token holds its maximum of %d open streams on this server; close one or try again later", max)
	}
	if max := cfg.MaxStreamsPerAddr; s.addr != "" && max > 0 && c.addrs[s.addr] >= max {
		return nil, tocsin.Errorf(tocsin.ETooMany, "your address holds its maximum of %d open streams on this server; close one or try again later", max)
	}
	if s.userID != "" && c.users[s.userID] >= cfg.MaxStreamsPerUser {
		if cfg.CloseOldest {
			if i := slices.IndexFunc(subs, func(o *Stream) bool { return o.userID == s.userID && o.held&heldUser != 0 }); i >= 0 {
				evicted = subs[i] // subs are oldest first
			}
		}
		if evicted == nil {
			return nil, tocsin.Errorf(tocsin.ETooMany, "user has %d open streams, the maximum; close one first", cfg.MaxStreamsPerUser)
		}
		c.releaseLocked(evicted)
	}
	if s.userID != "" {
		c.users[s.userID]++
		s.held |= heldUser
	}
	if s.tokenID != "" && cfg.MaxStreamsPerToken > 0 {
		c.tokens[s.tokenID]++
		s.held |= heldToken
	}
	if s.addr != "" && cfg.MaxStreamsPerAddr > 0 {
		c.addrs[s.addr]++
		s.held |= heldAddr
	}
	return evicted, nil
}

// release gives back the slots s holds (none, if it gave them back already).
func (c *slotCounts) release(s *Stream) {
	c.mu.Lock()
	c.releaseLocked(s)
	c.mu.Unlock()
}

func (c *slotCounts) releaseLocked(s *Stream) {
	if s.held&heldUser != 0 {
		decr(c.users, s.userID)
	}
	if s.held&heldToken != 0 {
		decr(c.tokens, s.tokenID)
	}
	if s.held&heldAddr != 0 {
		decr(c.addrs, s.addr)
	}
	s.held = 0
}

func decr(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}
