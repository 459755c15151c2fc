// Package client is the Go client of a tocsin server: publish with the application's
// API key, read and change a user's inbox with the user's token, and Subscribe to a
// stream with reconnects, exponential backoff with jitter, exact resume by
// Last-Event-ID and de-duplication by event id.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tocsin/tocsin"
)

// Client talks to one tocsin server. The zero value is not usable; use New.
type Client struct {
	base   string
	apiKey string
	token  string
	tokens *tokenHolder // WithTokenSource; replaces token when set
	http   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sets the application's API key (publishing, admin views).
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithToken sets a user's JWT (the user's inbox and stream). A token that expires
// ends the streams opened with it; use WithTokenSource for a client that outlives it.
func WithToken(jwt string) Option { return func(c *Client) { c.token = jwt } }

// WithHTTPClient sets the HTTP client (default: one without an overall timeout, as
// streams are long-lived; give requests deadlines through their contexts).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client of the server at baseURL (e.g. "http://127.0.0.1:8080", with
// the --base-path prefix if the server has one).
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimSuffix(baseURL, "/"), http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Error is an error answer of the server.
type Error struct {
	Status  int    // HTTP status
	Code    string // e.g. "invalid_request", "unauthorized"
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("tocsin: %d %s: %s", e.Status, e.Code, e.Message)
}

// Final reports whether retrying cannot help (credentials refused, bad request).
func (e *Error) Final() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden ||
		e.Status == http.StatusBadRequest || e.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path, credential string, body any, out any, headers ...string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp, err
	}
	if resp.StatusCode >= 300 {
		return resp, decodeError(resp.StatusCode, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp, fmt.Errorf("tocsin: decode %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

func decodeError(status int, data []byte) error {
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(data, &e)
	if e.Error.Code == "" {
		e.Error.Code, e.Error.Message = "http_error", strings.TrimSpace(string(data))
	}
	return &Error{Status: status, Code: e.Error.Code, Message: e.Error.Message}
}

// PublishOptions are the optional parts of a publish.
type PublishOptions struct {
	// IdempotencyKey makes a repeat of the same publish within 24 h return the first
	// result and create nothing. Set it: it also lets net/http retry the request
	// by itself when a pooled connection turns out closed (a restarted server).
	IdempotencyKey string
}

// Publish stores a notification for in's recipients (UserID, UserIDs or Topic) and
// returns the stored notifications, in recipient order, once they are durable.
func (c *Client) Publish(ctx context.Context, in tocsin.PublishInput, o PublishOptions) ([]tocsin.Notification, error) {
	if in.UserIDs != nil {
		var out struct{ Notifications []tocsin.Notification }
		_, err := c.do(ctx, "POST", "/api/notifications", c.apiKey, in, &out, "Idempotency-Key", o.IdempotencyKey)
		return out.Notifications, err
	}
	var n tocsin.Notification
	_, err := c.do(ctx, "POST", "/api/notifications", c.apiKey, in, &n, "Idempotency-Key", o.IdempotencyKey)
	if err != nil {
		return nil, err
	}
	return []tocsin.Notification{n}, nil
}

// PublishEvent appends a custom event (not an inbox item) to a user's stream.
func (c *Client) PublishEvent(ctx context.Context, userID, typ string, body any) error {
	_, err := c.do(ctx, "POST", "/api/users/"+url.PathEscape(userID)+"/events", c.apiKey,
		map[string]any{"type": typ, "body": body}, nil)
	return err
}

// ListOptions selects a page of the inbox.
type ListOptions struct {
	Status string // "all" (default), "unread", "read", "archived"
	Types  []string
	Tag    string
	Limit  int
	Cursor string // Page.NextCursor of the previous page
	// Q searches title, body and tags: every word must match as the prefix of a
	// word (case-insensitive); the best matches come first (title, then tags, then
	// body; newest first within). At most 200 bytes and 16 words. A page after the
	// first must be asked with the same Q (and filters) as its Cursor's page.
	Q string
}

// Page is one page of the inbox, newest first (best first for a search).
type Page struct {
	Notifications []tocsin.Notification `json:"notifications"`
	// NextCursor is the cursor of the next page, "" on the last page (the server's
	// null): list until it is "". A last page exactly Limit long has "" too.
	NextCursor  string `json:"nextCursor"`
	UnreadCount int    `json:"unreadCount"`
}

// List returns a page of the user's inbox.
func (c *Client) List(ctx context.Context, o ListOptions) (Page, error) {
	q := url.Values{}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if len(o.Types) > 0 {
		q.Set("type", strings.Join(o.Types, ","))
	}
	if o.Tag != "" {
		q.Set("tag", o.Tag)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Q != "" {
		q.Set("q", o.Q)
	}
	var p Page
	err := c.doUser(ctx, "GET", "/api/notifications?"+q.Encode(), nil, &p)
	return p, err
}

// UnreadCount returns the user's unread count.
func (c *Client) UnreadCount(ctx context.Context) (int, error) {
	var out struct{ UnreadCount int }
	err := c.doUser(ctx, "GET", "/api/notifications/unread-count", nil, &out)
	return out.UnreadCount, err
}

// MarkRead marks one of the user's notifications read.
func (c *Client) MarkRead(ctx context.Context, id string) (tocsin.Notification, error) {
	return c.Patch(ctx, id, tocsin.Patch{Read: ptr(true)})
}

// Patch changes the read, seen and archived state of one of the user's notifications.
func (c *Client) Patch(ctx context.Context, id string, p tocsin.Patch) (tocsin.Notification, error) {
	var n tocsin.Notification
	err := c.doUser(ctx, "PATCH", "/api/notifications/"+url.PathEscape(id), p, &n)
	return n, err
}

// Snooze snoozes one of the user's notifications until until (after now, at most a
// year ahead): it leaves the unread list and count until then, when it comes back
// unread with a notification:updated event. Snoozing does not mark it read.
func (c *Client) Snooze(ctx context.Context, id string, until time.Time) (tocsin.Notification, error) {
	return c.Patch(ctx, id, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(&until)})
}

// Unsnooze ends a snooze now, leaving the read state as it is.
func (c *Client) Unsnooze(ctx context.Context, id string) (tocsin.Notification, error) {
	return c.Patch(ctx, id, tocsin.Patch{SnoozedUntil: tocsin.SnoozeUntil(nil)})
}

// BulkResult is the answer of UpdateMany: the notifications that changed, after
// the change, and the user's unread count.
type BulkResult struct {
	Notifications []tocsin.Notification `json:"notifications"`
	UnreadCount   int                   `json:"unreadCount"`
}

// UpdateMany changes the read, seen and archived state (p's Read, Seen and
// Archived; at least one) of up to tocsin.MaxBulkIDs of the user's notifications
// in one request: the user's streams get ONE notifications:updated event. Ids
// that are missing or another user's are passed over and absent from the result.
func (c *Client) UpdateMany(ctx context.Context, ids []string, p tocsin.Patch) (BulkResult, error) {
	body := struct {
		IDs      []string `json:"ids"`
		Read     *bool    `json:"read,omitempty"`
		Seen     *bool    `json:"seen,omitempty"`
		Archived *bool    `json:"archived,omitempty"`
	}{ids, p.Read, p.Seen, p.Archived}
	var out BulkResult
	err := c.doUser(ctx, "PATCH", "/api/notifications", body, &out)
	return out, err
}

// ReadAll marks every unread notification of the user read and returns how many.
func (c *Client) ReadAll(ctx context.Context) (int, error) {
	var out struct{ Updated int }
	err := c.doUser(ctx, "POST", "/api/notifications/read-all", nil, &out)
	return out.Updated, err
}

// Delete deletes one of the user's notifications.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.doUser(ctx, "DELETE", "/api/notifications/"+url.PathEscape(id), nil, nil)
}

func ptr[T any](v T) *T { return &v }
