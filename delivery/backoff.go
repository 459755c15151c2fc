package delivery

import (
	"errors"
	"time"

	"github.com/tocsin/tocsin"
)

// backoffSteps are the waits after the 1st, 2nd, ... failed attempt; the last
// repeats. Together they cover about a day, the outbox's RetryFor.
var backoffSteps = [...]time.Duration{
	5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
}

// maxRetryAfter bounds a peer's Retry-After: a peer may not park a message longer
// than the longest step.
const maxRetryAfter = 8 * time.Hour

// backoff is the wait after failed attempt number attempt (1 for the first),
// spread by ±10% with u in [0,1) so the retries of many messages that failed
// together do not come back together.
func backoff(attempt int, u float64) time.Duration {
	i := min(max(attempt, 1), len(backoffSteps)) - 1
	d := backoffSteps[i]
	return d - d/10 + time.Duration(float64(d/5)*u)
}

// retryAfter is the wait the peer asked for in err (0: none), bounded.
func retryAfter(err error) time.Duration {
	var se *tocsin.SendError
	if errors.As(err, &se) && se.RetryAfter > 0 {
		return min(se.RetryAfter, maxRetryAfter)
	}
	return 0
}

// statusOf is the peer's status in err, 0 when it has none.
func statusOf(err error) int {
	var se *tocsin.SendError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// attemptsWithin is how many attempts the backoff (without jitter) makes within d.
func attemptsWithin(d time.Duration) int {
	n, total := 1, time.Duration(0)
	for {
		total += backoffSteps[min(n, len(backoffSteps))-1]
		if total > d {
			return n
		}
		n++
	}
}
