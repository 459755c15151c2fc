package tocsin

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"
)

// Notification ids are ULID-shaped: 26 characters of Crockford base32, 48 bits of
// milliseconds then 80 bits that are random for the first id of a millisecond and
// incremented after it, so ids sort by creation time, also within one millisecond
// and one process.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDGen makes notification ids. The zero value is ready to use and safe for
// concurrent use.
type IDGen struct {
	mu   sync.Mutex
	ms   uint64
	rand [10]byte
}

// New returns a new id for time t.
func (g *IDGen) New(t time.Time) string {
	ms := uint64(t.UnixMilli())
	g.mu.Lock()
	if ms <= g.ms {
		ms = g.ms
		increment(&g.rand)
	} else {
		g.ms = ms
		_, _ = rand.Read(g.rand[:])
		g.rand[0] &= 0x7f // leave room to increment within the millisecond
	}
	entropy := g.rand
	g.mu.Unlock()
	return idOf(ms, entropy)
}

// IDAt returns the id of time t with the given 80 bits in place of the random ones:
// the same inputs give the same id, so a retried request can name what it made the
// first time (the delivery engine's idempotent schedules). It sorts by t like New's.
func IDAt(t time.Time, entropy [10]byte) string {
	return idOf(uint64(t.UnixMilli()), entropy)
}

func idOf(ms uint64, entropy [10]byte) string {
	hi := ms<<16 | uint64(entropy[0])<<8 | uint64(entropy[1])
	lo := binary.BigEndian.Uint64(entropy[2:])
	// 128 bits as 26 base32 digits (the top digit holds 3 bits), least significant first.
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

func increment(b *[10]byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}

// ValidNotificationID reports whether s has the shape of a notification id, so that
// lookups of garbage never reach the store.
func ValidNotificationID(s string) bool {
	if len(s) != 26 {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z')
	}) < 0
}
