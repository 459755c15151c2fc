package webpush

import (
	"sync"
	"time"
)

// A VAPID token is valid for any request to one push service origin until it
// expires, and signing one costs an ECDSA signature: a Sender keeps the token of
// each origin it sends to and signs a new one only when the kept one has less than
// half its lifetime left. Nearly all subscriptions live on a handful of push
// services (Google, Mozilla, Apple, Microsoft), so a burst of pushes costs a
// handful of signatures, not one each.

// maxCachedOrigins bounds the cache: endpoints are chosen by browsers, and so
// indirectly by whoever registers a subscription; past this many origins the cache
// starts over.
const maxCachedOrigins = 256

type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken // by audience (origin)
}

type cachedToken struct {
	header string
	exp    time.Time
}

// authorization returns the Authorization value for a request to endpoint at now.
func (s *Sender) authorization(endpoint string, now time.Time) (string, error) {
	aud, err := audience(endpoint)
	if err != nil {
		return "", err
	}
	c := &s.tokens
	c.mu.Lock()
	t, ok := c.m[aud]
	c.mu.Unlock()
	if ok && t.exp.Sub(now) > TokenLifetime/2 {
		return t.header, nil
	}
	// Signed outside the lock; two concurrent first sends may both sign, and the
	// later one is kept: harmless.
	exp := now.Add(TokenLifetime)
	h, err := VAPIDAuthorization(s.key, endpoint, s.subject, exp)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedOrigins {
		c.m = make(map[string]cachedToken)
	}
	c.m[aud] = cachedToken{header: h, exp: exp}
	return h, nil
}
