package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TokenSource returns a user token (a JWT) that is valid now. The client calls it
// when it has none, when the one it holds expires within TokenRefreshMargin (read
// from its exp claim, without verifying it: the server does that), after the server
// refused the one it holds (401), and when a stream ends at its token's expiry.
type TokenSource func(ctx context.Context) (string, error)

// TokenRefreshMargin is how long before its exp a held token is replaced, so a
// request never leaves with a token about to expire.
const TokenRefreshMargin = 10 * time.Second

// WithTokenSource sets where the client gets the user's token from, instead of one
// fixed token (WithToken): with it, requests and streams outlive any one token. A
// request refused with 401 is retried once with a fresh token; Subscribe reconnects
// at once with a fresh token when the server ends a stream because its token expired,
// and resumes by Last-Event-ID, so no event is lost or repeated.
func WithTokenSource(src TokenSource) Option {
	return func(c *Client) { c.tokens = &tokenHolder{src: src} }
}

// tokenHolder is the token a client holds and the source of fresh ones.
type tokenHolder struct {
	src TokenSource

	mu  sync.Mutex
	tok string
	exp time.Time // zero: unknown (no exp, or not a JWT)
}

// get returns the held token, or a fresh one from the source when fresh is set, none
// is held, or the held one expires within the margin.
func (h *tokenHolder) get(ctx context.Context, fresh bool) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !fresh && h.tok != "" && (h.exp.IsZero() || time.Until(h.exp) > TokenRefreshMargin) {
		return h.tok, nil
	}
	tok, err := h.src(ctx)
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", errors.New("tocsin: the token source returned no token")
	}
	h.tok, h.exp = tok, jwtExpiry(tok)
	return tok, nil
}

// expired reports whether the held token's exp has passed (so a stream that just
// ended was ended for that).
func (h *tokenHolder) expired() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.exp.IsZero() && !time.Now().Before(h.exp)
}

// jwtExpiry reads a JWT's exp claim without verifying anything (zero when absent).
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return time.Time{}
	}
	sec, err := c.Exp.Float64()
	if err != nil || sec <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(sec), 0)
}

// userToken is the credential of the user's own requests: the source's token, or
// the fixed one.
func (c *Client) userToken(ctx context.Context, fresh bool) (string, error) {
	if c.tokens == nil {
		return c.token, nil
	}
	return c.tokens.get(ctx, fresh)
}

// doUser is do with the user's token; a 401 is retried once with a fresh token from
// the source (the held one expired or was revoked meanwhile).
func (c *Client) doUser(ctx context.Context, method, path string, body any, out any) error {
	tok, err := c.userToken(ctx, false)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, method, path, tok, body, out)
	var apiErr *Error
	if c.tokens == nil || !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		return err
	}
	if tok, err = c.userToken(ctx, true); err != nil {
		return err
	}
	_, err = c.do(ctx, method, path, tok, body, out)
	return err
}
