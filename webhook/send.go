package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/outbound"
)

// MaxRetryAfter caps how long a peer's Retry-After may hold a message back: the
// outbox gives up after 24 h, and a peer must not be able to park it for most of
// that with one header.
const MaxRetryAfter = time.Hour

// maxSnippet bounds how much of a failed response's body goes into the error (and
// from there into the job's LastError, shown to the endpoint's owner).
const maxSnippet = 256

// Sender makes single webhook attempts through the guarded outbound client. It is
// safe for concurrent use.
type Sender struct {
	client *outbound.Client
	log    *slog.Logger
}

// NewSender returns a Sender using client (shared with the process's other
// outbound traffic) and logging to log (nil: discard).
func NewSender(client *outbound.Client, log *slog.Logger) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{client: client, log: log}
}

// Send POSTs one signed message to ep and returns the peer's HTTP status (0 when
// none was received) and nil on a 2xx; otherwise a *tocsin.SendError, permanent or
// retryable (see the package doc). msgID is the webhook-id: the same for every
// attempt at one message, so the receiver can de-duplicate.
func (s *Sender) Send(ctx context.Context, ep tocsin.WebhookEndpoint, msgID string, ts time.Time, body []byte) (int, error) {
	if err := s.client.CheckURL(ep.URL); err != nil {
		return 0, tocsin.PermanentError(0, fmt.Errorf("webhook endpoint %s: invalid URL: %w", ep.ID, err))
	}
	k, err := key(ep.Secret)
	if err != nil {
		return 0, tocsin.PermanentError(0, fmt.Errorf("webhook endpoint %s: %w", ep.ID, err))
	}
	if msgID == "" {
		return 0, tocsin.PermanentError(0, errors.New("webhook message without an id"))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(body))
	if err != nil {
		return 0, tocsin.PermanentError(0, fmt.Errorf("webhook endpoint %s: %w", ep.ID, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderID, msgID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sign(k, msgID, ts, body))

	start := time.Now()
	resp, err := s.client.Do(req)
	if resp != nil && resp.StatusCode/100 == 2 {
		// Accepted, even if the response body then broke off: the receiver has it.
		s.log.Debug("webhook sent", "endpoint", ep.ID, "msg", msgID, "status", resp.StatusCode, "took", time.Since(start))
		return resp.StatusCode, nil
	}
	if resp == nil {
		s.log.Debug("webhook attempt failed", "endpoint", ep.ID, "msg", msgID, "err", err, "took", time.Since(start))
		if errors.Is(err, outbound.ErrForbiddenAddress) {
			return 0, tocsin.PermanentError(0, err)
		}
		return 0, tocsin.RetryableError(0, 0, err) // timeout, refused or broken connection
	}
	// A non-2xx status decides, even when its body then broke off (err != nil).
	s.log.Debug("webhook refused", "endpoint", ep.ID, "msg", msgID, "status", resp.StatusCode, "took", time.Since(start))
	return resp.StatusCode, classify(resp, time.Now())
}

// classify turns a non-2xx response into a permanent or retryable SendError.
func classify(resp *outbound.Response, now time.Time) error {
	code := resp.StatusCode
	err := fmt.Errorf("endpoint answered %d %s%s", code, http.StatusText(code), snippet(resp))
	switch {
	case code == http.StatusMovedPermanently || code == http.StatusPermanentRedirect:
		// Redirects are never followed; a permanent one means the registered URL is
		// wrong, and retrying for a day will not fix it.
		return tocsin.PermanentError(code, fmt.Errorf("%w (redirects are not followed; register %q instead)", err, resp.Header.Get("Location")))
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return tocsin.RetryableError(code, RetryAfter(resp.Header.Get("Retry-After"), now), err)
	case code == http.StatusRequestTimeout || code == http.StatusConflict || code == http.StatusTooEarly:
		return tocsin.RetryableError(code, 0, err)
	case code >= 400 && code < 500:
		return tocsin.PermanentError(code, err)
	default: // 5xx, a temporary redirect, anything unexpected
		return tocsin.RetryableError(code, 0, err)
	}
}

// snippet quotes the start of a failed response's body for the error message:
// receivers often say there why they refused.
func snippet(resp *outbound.Response) string {
	b := bytes.TrimSpace(resp.Body)
	if len(b) == 0 {
		return ""
	}
	cut := len(b) > maxSnippet
	if cut {
		n := maxSnippet
		for n > 0 && !utf8.RuneStart(b[n]) { // do not split a character
			n--
		}
		b = b[:n]
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if cut || resp.Truncated {
		s += "…"
	}
	return ": " + strconv.Quote(s)
}

// RetryAfter reads a Retry-After header value, delay-seconds or an HTTP date,
// as a delay from now: 0 when absent, unparsable or in the past, at most
// MaxRetryAfter.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	// ErrRange: all digits, more than fit in 64 bits; capped below like any large value.
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = at.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
