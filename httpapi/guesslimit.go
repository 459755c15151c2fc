package httpapi

import (
	"container/list"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tocsin/tocsin"
)

// Failed credential checks per client address (--auth-failure-limit).
//
// Capability tokens, tickets, unsubscribe links, API keys and JWTs have far too much
// entropy to be guessed, but every wrong guess still costs a store lookup and a log
// line, as fast as a client can ask. So the server counts the FAILED credential
// checks of each client address (clientKey: the address as --trusted-proxies
// resolves it, an IPv6 address by its /64) in a token bucket of `limit` failures per
// minute, with a burst of `limit`. An address whose bucket is empty gets 429 with
// Retry-After on every credential-checking route, before its credential is read or
// anything is looked up, until the bucket refills. Successful requests draw nothing.
//
// While limited, an address is refused even with a valid credential: telling a good
// guess from a bad one would need the very lookup the limit saves, and would answer
// the guesser. Clients sharing an address with a guesser (a NAT) wait with it.
//
// Memory is bounded: at most failureTableSize addresses are tracked, least recently
// failed first out. An entry is dropped as soon as its bucket is full again, so the
// table holds only addresses that failed within the last minute or so. There is no
// sweeper: entries are examined only when their address asks. Eviction can free a
// guesser early only when it fails from more addresses than the table holds, and
// then each address has its own budget anyway.

// failureTableSize is the default bound of the table (about 150 bytes an entry).
const failureTableSize = 10000

// failureLogEvery is the most often a refused address is logged.
const failureLogEvery = time.Minute

type failureLimiter struct {
	rate  float64 // failures given back per second
	burst float64
	size  int

	// entries is len(table), read without mu: while no address has failed lately
	// (the common case) a request costs one atomic load, not the shared lock.
	entries atomic.Int64

	mu    sync.Mutex
	table map[string]*list.Element // of *failureEntry
	lru   list.List                // front: most recently failed
}

type failureEntry struct {
	key    string
	tokens float64
	at     time.Time // when tokens was last brought up to date
	logged time.Time // when a refusal of this address was last logged
}

// newFailureLimiter returns nil (off) for perMinute <= 0; size <= 0 is the default.
func newFailureLimiter(perMinute, size int) *failureLimiter {
	if perMinute <= 0 {
		return nil
	}
	if size <= 0 {
		size = failureTableSize
	}
	return &failureLimiter{rate: float64(perMinute) / 60, burst: float64(perMinute), size: size, table: map[string]*list.Element{}}
}

// refill brings e's bucket up to now; it reports whether the bucket is full again
// (the entry says nothing an absent one would not).
func (f *failureLimiter) refill(e *failureEntry, now time.Time) bool {
	if d := now.Sub(e.at); d > 0 {
		e.tokens = math.Min(f.burst, e.tokens+d.Seconds()*f.rate)
		e.at = now
	}
	return e.tokens >= f.burst
}

// blocked says whether key has no failure left, how long until it has one, and
// whether this refusal should be logged (at most once per failureLogEvery).
func (f *failureLimiter) blocked(key string, now time.Time) (wait time.Duration, log bool) {
	if f == nil || key == "" || f.entries.Load() == 0 {
		return 0, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	el := f.table[key]
	if el == nil {
		return 0, false
	}
	e := el.Value.(*failureEntry)
	if f.refill(e, now) {
		f.remove(el)
		return 0, false
	}
	if e.tokens >= 1 {
		return 0, false
	}
	wait = time.Duration((1 - e.tokens) / f.rate * float64(time.Second))
	if e.logged.IsZero() || now.Sub(e.logged) >= failureLogEvery {
		e.logged, log = now, true
	}
	return wait, log
}

// fail draws one failure from key's bucket.
func (f *failureLimiter) fail(key string, now time.Time) {
	if f == nil || key == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	el := f.table[key]
	if el == nil {
		for f.lru.Len() >= f.size {
			f.remove(f.lru.Back())
		}
		el = f.lru.PushFront(&failureEntry{key: key, tokens: f.burst, at: now})
		f.table[key] = el
		f.entries.Add(1)
	} else {
		f.lru.MoveToFront(el)
	}
	e := el.Value.(*failureEntry)
	f.refill(e, now)
	e.tokens = math.Max(0, e.tokens-1)
}

func (f *failureLimiter) remove(el *list.Element) {
	delete(f.table, el.Value.(*failureEntry).key)
	f.lru.Remove(el)
	f.entries.Add(-1)
}

// tracked is how many addresses the table holds (tests).
func (f *failureLimiter) tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lru.Len()
}

// credentialRoute says whether rt checks a credential, so that a guessing address is
// refused on it: every authenticated route, and the public ones whose credential is
// in the path, the query or the body.
func credentialRoute(rt route) bool {
	if rt.auth != authNone {
		return true
	}
	switch rt.method + " " + rt.pattern {
	case "GET /api/stream/{token}", "POST /api/hooks/{token}", "GET /api/unsubscribe", "POST /api/unsubscribe",
		"POST /api/push/read", "GET /api/notifications/ws", "POST /events":
		return true
	}
	return false
}

// badCredential marks an error as a failed credential check that is not a 401 (an
// invalid unsubscribe link is a 400), so that it is counted all the same.
type badCredential struct{ error }

func (b badCredential) Unwrap() error { return b.error }

// isGuess says whether err is a failed credential check: any 401 (a wrong or a
// missing credential alike, as they answer alike), or a badCredential.
func isGuess(err error) bool {
	var b badCredential
	return err != nil && (tocsin.ErrorCodeOf(err) == tocsin.EUnauthorized || errors.As(err, &b))
}

// refuseGuesser answers 429 (as an error) when r's address has no failure left.
func (s *Server) refuseGuesser(r *http.Request, setHeader func(k, v string)) error {
	if s.guesses == nil {
		return nil
	}
	key := s.clientKey(r)
	wait, log := s.guesses.blocked(key, time.Now())
	if wait <= 0 {
		return nil
	}
	if s.cfg.AuthFailuresRefused != nil {
		s.cfg.AuthFailuresRefused.Inc()
	}
	if log {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "refusing requests from a client address: too many failed credential checks (--auth-failure-limit)",
			slog.String("client", key), slog.Int("limit_per_minute", int(s.guesses.burst)))
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	setHeader("Retry-After", strconv.Itoa(secs))
	return tocsin.Errorf(tocsin.ETooMany, "too many failed credential checks from your address; retry in %ds", secs)
}

// countGuess draws a failure from r's address when err is a failed credential check.
func (s *Server) countGuess(r *http.Request, err error) {
	if s.guesses != nil && isGuess(err) {
		s.guesses.fail(s.clientKey(r), time.Now())
	}
}
