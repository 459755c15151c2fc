package httpapi

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tocsin/tocsin"
)

// limitKind says which token bucket a route draws from.
type limitKind int

const (
	limitNone    limitKind = iota
	limitPublish           // per API key: publishes and custom events
	limitUser              // per user: inbox reads and changes
	limitConnect           // per user: new streams
	limitHook              // per hook token: publishes (the principal's KeyID is "hook:<token id>")
)

// keyedLimiter is a token bucket per key (API key id or user id). Buckets idle for
// longer than they take to refill are dropped, so memory follows active callers.
type keyedLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	calls   int
}

type bucket struct {
	l    *rate.Limiter
	last time.Time
}

// newKeyedLimiter returns nil (no limit) for a rate of 0.
func newKeyedLimiter(perSecond float64) *keyedLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &keyedLimiter{
		limit: rate.Limit(perSecond), burst: max(1, int(math.Ceil(2*perSecond))),
		buckets: map[string]*bucket{},
	}
}

// sweepEvery is how many calls pass between sweeps of idle buckets.
const sweepEvery = 4096

// allow takes a token from key's bucket, or says how long until one is available.
func (k *keyedLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	if k == nil {
		return true, 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.calls++; k.calls%sweepEvery == 0 {
		idle := time.Duration(float64(k.burst)/float64(k.limit)*float64(time.Second)) + time.Minute
		for key, b := range k.buckets {
			if now.Sub(b.last) > idle {
				delete(k.buckets, key)
			}
		}
	}
	b := k.buckets[key]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(k.limit, k.burst)}
		k.buckets[key] = b
	}
	b.last = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// limiters are the node's buckets. An end user publishing its own events
// (userPublish) and a hook token (hook) have rates of their own, far below the API
// key's: they are credentials the application hands out, not its own backend.
type limiters struct {
	publish, user, connect, userPublish, hook *keyedLimiter
}

// check draws from the bucket of kind for p, or answers 429 with Retry-After.
func (s *Server) checkLimit(kind limitKind, p tocsin.Principal, setHeader func(k, v string)) error {
	var k *keyedLimiter
	key := p.UserID
	switch kind {
	case limitPublish:
		k, key = s.limits.publish, p.KeyID
		if p.Kind == tocsin.PrincipalUser {
			k, key = s.limits.userPublish, p.UserID // a member publishing to itself on POST /events
		}
	case limitHook:
		k, key = s.limits.hook, p.KeyID
	case limitUser:
		k = s.limits.user
	case limitConnect:
		k = s.limits.connect
	default:
		return nil
	}
	ok, wait := k.allow(key, time.Now())
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	setHeader("Retry-After", strconv.Itoa(max(1, secs)))
	what := map[limitKind]string{limitPublish: "publish", limitUser: "request", limitConnect: "new stream", limitHook: "hook"}[kind]
	return tocsin.Errorf(tocsin.ETooMany, "%s rate limit exceeded; retry in %ds", what, max(1, secs))
}
