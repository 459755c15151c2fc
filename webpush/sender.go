package webpush

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/internal/outbound"
	"github.com/tocsin/tocsin/webhook"
)

var (
	// ErrGone: the push service answered 404 or 410, the subscription has expired
	// or was unsubscribed (RFC 8030 §7.3, §8.3). The engine deletes it and sends
	// it nothing more. Send wraps it in a permanent *tocsin.SendError.
	ErrGone = errors.New("webpush: subscription is gone")
	// ErrTooLarge: the payload is more than a push message holds, either before
	// sending (over MaxPayload) or by the push service's 413. The engine trims the
	// payload (drops data, then body) and sends again. Send wraps it in a
	// permanent *tocsin.SendError: the same bytes will never fit.
	ErrTooLarge = errors.New("webpush: payload too large")
)

// Urgency values (RFC 8030 §5.3): how much battery a user agent may spend to
// deliver the message now.
const (
	UrgencyVeryLow = "very-low"
	UrgencyLow     = "low"
	UrgencyNormal  = "normal"
	UrgencyHigh    = "high"
)

// TTL bounds (RFC 8030 §5.2: how long the push service keeps an undelivered
// message, in seconds).
const (
	// DefaultTTL is used when Options.TTL is zero: four weeks, the longest that the
	// large push services keep a message (they cap a longer TTL to about this).
	DefaultTTL = 28 * 24 * time.Hour
	// MaxTTL caps Options.TTL.
	MaxTTL = DefaultTTL
)

// maxTopicLen is RFC 8030 §5.4's limit on the Topic header.
const maxTopicLen = 32

// maxSnippet bounds how much of a refusal's body goes into the error (push
// services explain there why they refused: a bad VAPID token, a mismatched key).
const maxSnippet = 200

// Options are the RFC 8030 headers of one push message.
type Options struct {
	// TTL is how long the push service keeps the message for a user agent that is
	// offline (the notification's expiresAt less now). Zero means DefaultTTL;
	// negative means 0: deliver only to a user agent connected right now. Rounded
	// down to whole seconds, capped at MaxTTL.
	TTL time.Duration
	// Urgency is "", very-low, low, normal or high (UrgencyOf); "" sends no header
	// (the push service assumes normal).
	Urgency string
	// Topic, when set, makes this message replace an undelivered earlier one with
	// the same topic (TopicOf): at most 32 characters of the base64url alphabet.
	Topic string
	// PadTo pads the plaintext to at least this many bytes (see Encrypt).
	PadTo int
}

func (o Options) ttlSeconds() int64 {
	switch {
	case o.TTL == 0:
		return int64(DefaultTTL / time.Second)
	case o.TTL < 0:
		return 0
	}
	return int64(min(o.TTL, MaxTTL) / time.Second)
}

func (o Options) check() error {
	switch o.Urgency {
	case "", UrgencyVeryLow, UrgencyLow, UrgencyNormal, UrgencyHigh:
	default:
		return tocsin.Errorf(tocsin.EInvalid, "push urgency must be very-low, low, normal or high, not %q", o.Urgency)
	}
	if !validTopic(o.Topic) && o.Topic != "" {
		return tocsin.Errorf(tocsin.EInvalid, "push topic must be at most %d characters of the base64url alphabet", maxTopicLen)
	}
	return nil
}

// UrgencyOf maps a notification's priority to Urgency (PRODUCT.md §8): 1
// very-low, 2 low, 3 normal, 4 and 5 high. A priority out of range is normal.
func UrgencyOf(priority int) string {
	switch priority {
	case 1:
		return UrgencyVeryLow
	case 2:
		return UrgencyLow
	case 4, 5:
		return UrgencyHigh
	}
	return UrgencyNormal
}

// TopicOf returns the Topic for a notification id: the id itself when it is a
// valid topic (a ULID: 26 characters of Crockford base32, all in the base64url
// alphabet), else the first 32 characters of the base64url SHA-256 of the id.
// Either way one id always gives one topic, so a later push about the same
// notification (an update, or its dismiss) replaces an undelivered earlier one.
func TopicOf(notificationID string) string {
	if validTopic(notificationID) {
		return notificationID
	}
	sum := sha256.Sum256([]byte(notificationID))
	return b64.EncodeToString(sum[:])[:maxTopicLen]
}

func validTopic(s string) bool {
	if s == "" || len(s) > maxTopicLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// CheckEndpoint validates a subscription's endpoint: an https: URL on a public
// address (outbound.CheckURL: no credentials, no fragment, an IP literal must not
// be private), or with allowInsecure (--push-allow-insecure) also http: and
// private or loopback addresses. A host name is checked again on every dial by the
// outbound client. Errors are EInvalid.
func CheckEndpoint(endpoint string, allowInsecure bool) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return tocsin.Errorf(tocsin.EInvalid, "push endpoint does not parse as a URL")
	}
	if u.Scheme != "https" && !(allowInsecure && u.Scheme == "http") {
		return tocsin.Errorf(tocsin.EInvalid, "push endpoint must be an https: URL (http: only with --push-allow-insecure)")
	}
	if err := outbound.CheckURL(endpoint, allowInsecure); err != nil {
		return tocsin.Errorf(tocsin.EInvalid, "push endpoint: %v", err)
	}
	return nil
}

// Sender sends Web Push messages through the guarded outbound client. It is safe
// for concurrent use.
type Sender struct {
	client        *outbound.Client
	key           *ecdsa.PrivateKey
	subject       string
	allowInsecure bool
	tokens        tokenCache
}

// NewSender returns a Sender signing with the VAPID key and subject (CheckSubject).
// client must be made with outbound.Config.AllowPrivate equal to allowInsecure:
// Send checks the endpoint's scheme and any IP literal itself, but only the
// client checks the address a host name resolves to, on each dial.
func NewSender(client *outbound.Client, key *ecdsa.PrivateKey, subject string, allowInsecure bool) (*Sender, error) {
	if client == nil {
		return nil, errors.New("webpush: NewSender needs an outbound client")
	}
	if PublicKeyBase64(key) == "" {
		return nil, errors.New("webpush: NewSender needs a valid P-256 VAPID key")
	}
	if err := CheckSubject(subject); err != nil {
		return nil, err
	}
	return &Sender{client: client, key: key, subject: subject, allowInsecure: allowInsecure}, nil
}

// PublicKey is the VAPID public key the browser subscribes with
// (PublicKeyBase64).
func (s *Sender) PublicKey() string { return PublicKeyBase64(s.key) }

// Send encrypts payload for sub and POSTs it to the subscription's push service
// (RFC 8030 §5) with a VAPID token (one per push service origin, renewed when
// half of its TokenLifetime has passed). It returns the push service's HTTP
// status (0 when none was received) and nil when the service accepted the
// message (any 2xx: 201 Created is the RFC's answer, 202 the receipt-requested
// one). Otherwise it returns a *tocsin.SendError:
//
//   - permanent, wrapping ErrGone, on 404 or 410: delete the subscription;
//   - permanent, wrapping ErrTooLarge, on 413 or a payload over MaxPayload: trim
//     the payload and send again;
//   - retryable on 429, any 5xx and 408, with the peer's Retry-After (at most
//     webhook.MaxRetryAfter), and on a transport failure (timeout, refused);
//   - permanent on anything else: another 4xx (400 a malformed request, 401/403
//     a VAPID key the subscription was not made with), a 3xx (never followed),
//     an invalid subscription or options, a forbidden address.
func (s *Sender) Send(ctx context.Context, sub Subscription, payload []byte, opts Options) (int, error) {
	if err := CheckEndpoint(sub.Endpoint, s.allowInsecure); err != nil {
		return 0, tocsin.PermanentError(0, err)
	}
	if err := opts.check(); err != nil {
		return 0, tocsin.PermanentError(0, err)
	}
	body, err := Encrypt(sub, payload, opts.PadTo)
	if err != nil {
		return 0, tocsin.PermanentError(0, err)
	}
	auth, err := s.authorization(sub.Endpoint, time.Now())
	if err != nil {
		return 0, tocsin.PermanentError(0, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, tocsin.PermanentError(0, fmt.Errorf("webpush: %w", err))
	}
	h := req.Header
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Encoding", "aes128gcm")
	h.Set("TTL", strconv.FormatInt(opts.ttlSeconds(), 10))
	if opts.Urgency != "" {
		h.Set("Urgency", opts.Urgency)
	}
	if opts.Topic != "" {
		h.Set("Topic", opts.Topic)
	}
	h.Set("Authorization", auth)

	resp, err := s.client.Do(req)
	if resp == nil {
		if errors.Is(err, outbound.ErrForbiddenAddress) {
			return 0, tocsin.PermanentError(0, err)
		}
		return 0, tocsin.RetryableError(0, 0, fmt.Errorf("webpush: %w", err))
	}
	if resp.StatusCode/100 == 2 {
		// Accepted, even if the response body then broke off.
		return resp.StatusCode, nil
	}
	return resp.StatusCode, classify(resp, time.Now())
}

// classify turns a push service's non-2xx answer into a SendError (see Send).
func classify(resp *outbound.Response, now time.Time) error {
	code := resp.StatusCode
	err := fmt.Errorf("push service answered %d %s%s", code, http.StatusText(code), snippet(resp.Body))
	switch {
	case code == http.StatusNotFound || code == http.StatusGone:
		return tocsin.PermanentError(code, fmt.Errorf("%w: %w", ErrGone, err))
	case code == http.StatusRequestEntityTooLarge:
		return tocsin.PermanentError(code, fmt.Errorf("%w: %w", ErrTooLarge, err))
	case code == http.StatusTooManyRequests || code >= 500:
		return tocsin.RetryableError(code, webhook.RetryAfter(resp.Header.Get("Retry-After"), now), err)
	case code == http.StatusRequestTimeout:
		return tocsin.RetryableError(code, 0, err)
	default:
		return tocsin.PermanentError(code, err)
	}
}

// snippet quotes the start of a refusal's body for the error message (Quote
// escapes whatever is not valid UTF-8, including a character the cut splits).
func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return ""
	case len(b) > maxSnippet:
		return ": " + strconv.Quote(string(b[:maxSnippet])) + "…"
	}
	return ": " + strconv.Quote(string(b))
}
