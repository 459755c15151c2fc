package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/sse"
)

// Capability URLs (PRODUCT.md §5.4): a stream token lets whoever holds it subscribe
// to one stream (GET /api/stream/{token}); a hook token lets them publish to it
// (POST /api/hooks/{token}). Tokens are random, stored only as their SHA-256, and
// revocable; revoking one closes the streams opened with it.

// Token prefixes say the scope at a glance (and in secret scanners).
const (
	subscribeTokenPrefix = "tks_"
	publishTokenPrefix   = "tkp_"
	tokenIDPrefix        = "tok_"
)

func newToken(scope string) (token, id string, err error) {
	var b [24]byte
	var i [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(i[:]); err != nil {
		return "", "", err
	}
	prefix := subscribeTokenPrefix
	if scope == tocsin.ScopePublish {
		prefix = publishTokenPrefix
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), tokenIDPrefix + hex.EncodeToString(i[:]), nil
}

// tokenView is a token as the API shows it; Token is set only when it is minted.
type tokenView struct {
	ID        string            `json:"id"`
	Token     string            `json:"token,omitempty"`
	URL       string            `json:"url,omitempty"`
	Stream    string            `json:"stream"`
	Scope     string            `json:"scope"`
	CreatedAt tocsin.Timestamp  `json:"createdAt"`
	RevokedAt *tocsin.Timestamp `json:"revokedAt"`
}

func viewOf(t tocsin.StreamToken) tokenView {
	return tokenView{ID: t.ID, Stream: string(t.Stream), Scope: t.Scope, CreatedAt: tocsin.Timestamp(t.CreatedAt), RevokedAt: (*tocsin.Timestamp)(t.RevokedAt)}
}

// validStream checks "user:<id>" or "topic:<name>".
func validStream(s string) (tocsin.StreamID, error) {
	switch {
	case strings.HasPrefix(s, "user:"):
		if err := tocsin.ValidateUserID(strings.TrimPrefix(s, "user:")); err != nil {
			return "", err
		}
	case strings.HasPrefix(s, "topic:"):
		if err := tocsin.ValidateTopic(strings.TrimPrefix(s, "topic:")); err != nil {
			return "", err
		}
	default:
		return "", tocsin.Errorf(tocsin.EInvalid, `stream must be "user:<id>" or "topic:<name>"`)
	}
	return tocsin.StreamID(s), nil
}

// createToken: POST /api/tokens {"stream": "topic:deploys", "scope": "subscribe"}.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in struct {
		Stream string `json:"stream"`
		Scope  string `json:"scope"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	stream, err := validStream(in.Stream)
	if err != nil {
		return err
	}
	if in.Scope != tocsin.ScopeSubscribe && in.Scope != tocsin.ScopePublish {
		return tocsin.Errorf(tocsin.EInvalid, `scope must be "subscribe" or "publish"`)
	}
	token, id, err := newToken(in.Scope)
	if err != nil {
		return err
	}
	t := tocsin.StreamToken{ID: id, Hash: auth.HashTicket(token), Stream: stream, Scope: in.Scope, CreatedAt: s.now()}
	if err := s.store.PutToken(r.Context(), t); err != nil {
		return err
	}
	v := viewOf(t)
	v.Token = token
	v.URL = strings.TrimSuffix(s.cfg.BasePath, "/") + "/api/stream/" + token
	if in.Scope == tocsin.ScopePublish {
		v.URL = strings.TrimSuffix(s.cfg.BasePath, "/") + "/api/hooks/" + token
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// listTokens: GET /api/tokens (never the tokens themselves: only their ids).
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	ts, err := s.store.Tokens(r.Context())
	if err != nil {
		return err
	}
	out := make([]tokenView, len(ts))
	for i, t := range ts {
		out[i] = viewOf(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

// revokeToken: DELETE /api/tokens/{token}, by the token or its id. Streams opened
// with it on this node close at once; on other nodes at their next heartbeat.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	v := r.PathValue("token")
	key := v
	if !strings.HasPrefix(v, tokenIDPrefix) {
		key = auth.HashTicket(v)
	}
	t, err := s.store.RevokeToken(r.Context(), key, s.now())
	if err != nil {
		return err
	}
	s.hub.CloseToken(t.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokenFor finds the live token in the path and checks its scope. Unknown and revoked
// tokens are 401 (final: EventSource stops), a token of the other scope is 403.
func (s *Server) tokenFor(r *http.Request, scope string) (tocsin.StreamToken, error) {
	v := r.PathValue("token")
	if v == "" || len(v) > 128 {
		return tocsin.StreamToken{}, tocsin.Errorf(tocsin.EUnauthorized, "invalid token")
	}
	t, err := s.store.Token(r.Context(), auth.HashTicket(v))
	if tocsin.ErrorCodeOf(err) == tocsin.ENotFound {
		return t, tocsin.Errorf(tocsin.EUnauthorized, "invalid token")
	}
	if err != nil {
		return t, err
	}
	if t.RevokedAt != nil {
		return t, tocsin.Errorf(tocsin.EUnauthorized, "this token was revoked")
	}
	if t.Scope != scope {
		if scope == tocsin.ScopeSubscribe {
			return t, tocsin.Errorf(tocsin.EForbidden, "a hook (publish) token cannot subscribe")
		}
		return t, tocsin.Errorf(tocsin.EForbidden, "a stream (subscribe) token cannot publish")
	}
	return t, nil
}

// capabilityStream: GET /api/stream/{token}. Unnamed SSE events (EventSource's
// onmessage fires; curl -N prints them) whose data is the notification plus
// "message" and "timestamp"; heartbeats; exact resume by Last-Event-ID.
func (s *Server) capabilityStream(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	t, err := s.tokenFor(r, tocsin.ScopeSubscribe)
	if err != nil {
		return err
	}
	req, err := s.subscribeRequest(r, tocsin.Principal{}, "sse")
	if err != nil {
		return err
	}
	req.Stream, req.UserID, req.TokenID = t.Stream, "", t.ID
	req.Names, req.NoInit, req.Batch = []string{tocsin.EventNotification}, true, 0
	hash := t.Hash
	req.Check = func(ctx context.Context) error {
		cur, err := s.store.Token(ctx, hash)
		if err == nil && cur.RevokedAt != nil {
			return hub.ErrRevoked
		}
		return nil // a store hiccup does not end the stream
	}
	if w.Header().Get("Access-Control-Allow-Origin") == "" {
		// The token is the credential: any page holding the URL may read it.
		w.Header().Set("Access-Control-Allow-Origin", "*")
	}
	return s.serveSSE(w, r, tocsin.Principal{}, req, sseEncoding{encode: encodeCapability, slot: hub.EncodingCapability})
}

// encodeCapability frames a notification event without an event name, its data the
// notification plus "message" (its body) and "timestamp" (its creation time), the
// fields simple clients (ntfy's, a dashboard's) look for.
func encodeCapability(d *hub.Delivery) []byte {
	var n struct {
		Body      string `json:"body"`
		CreatedAt string `json:"createdAt"`
	}
	data := d.Event.Data
	if json.Unmarshal(data, &n) == nil && len(data) > 1 && data[0] == '{' {
		msg, _ := json.Marshal(n.Body)
		ts, _ := json.Marshal(n.CreatedAt)
		extra := make([]byte, 0, len(data)+len(msg)+len(ts)+32)
		extra = append(extra, `{"message":`...)
		extra = append(extra, msg...)
		extra = append(extra, `,"timestamp":`...)
		extra = append(extra, ts...)
		if len(data) > 2 {
			extra = append(extra, ',')
		}
		data = append(extra, data[1:]...)
	}
	return sse.AppendEvent(nil, d.ID, "", data)
}

// topicStream: GET /api/topics/{name}/stream, for a user whose token grants the
// topic (claim "topics": ["deploys"], or ["*"]). Named events, as on the user's
// stream; a fresh connect starts at the topic's head.
func (s *Server) topicStream(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	name := r.PathValue("name")
	if err := tocsin.ValidateTopic(name); err != nil {
		return err
	}
	granted := false
	for _, t := range p.Topics {
		granted = granted || t == name || t == "*"
	}
	if !granted {
		return tocsin.Errorf(tocsin.EForbidden, "this token does not grant topic %q (claim \"topics\")", name)
	}
	req, err := s.subscribeRequest(r, p, "sse")
	if err != nil {
		return err
	}
	req.Stream = tocsin.TopicStream(name)
	return s.serveSSE(w, r, p, req, sseEncoding{})
}

// hook: POST /api/hooks/{token}. A notification JSON body, or a plain-text body
// taken as the message with Title, Priority and Tags headers.
func (s *Server) hook(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	t, err := s.tokenFor(r, tocsin.ScopePublish)
	if err != nil {
		return err
	}
	if err := s.checkLimit(limitHook, tocsin.Principal{Kind: tocsin.PrincipalApp, KeyID: "hook:" + t.ID}, w.Header().Set); err != nil {
		return err
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in tocsin.PublishInput
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || strings.HasPrefix(trimmed, "{") {
		if err := decodeJSON(body, &in); err != nil {
			return err
		}
		if in.UserID != "" || in.UserIDs != nil || in.Topic != "" {
			return tocsin.Errorf(tocsin.EInvalid, "a hook publishes to its token's stream; leave out userId, userIds and topic")
		}
	} else {
		in.Body = trimmed
	}
	if err := hookHeaders(r, &in); err != nil {
		return err
	}
	if user, ok := t.Stream.UserID(); ok {
		in.UserID = user
	} else {
		in.Topic = strings.TrimPrefix(string(t.Stream), "topic:")
	}
	if err := in.Validate(s.now()); err != nil {
		return err
	}
	res, err := s.hub.Publish(r.Context(), &in, hub.Idempotency{})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res.Notifications[0])
	return nil
}

// hookHeaders applies Title, Priority and Tags (also X-Title, X-Priority, X-Tags) to
// the fields the body left unset.
func hookHeaders(r *http.Request, in *tocsin.PublishInput) error {
	get := func(name string) string {
		if v := r.Header.Get(name); v != "" {
			return v
		}
		return r.Header.Get("X-" + name)
	}
	if v := get("Title"); v != "" && in.Title == "" {
		in.Title = v
	}
	if v := get("Priority"); v != "" && in.Priority == 0 {
		p, err := parsePriority(v)
		if err != nil {
			return err
		}
		in.Priority = p
	}
	if v := get("Tags"); v != "" && in.Tags == nil {
		for _, tag := range strings.Split(v, ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				in.Tags = append(in.Tags, tag)
			}
		}
	}
	return nil
}

// parsePriority reads 1–5 or min, low, default, high, urgent (max is urgent too).
func parsePriority(v string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "min":
		return 1, nil
	case "low":
		return 2, nil
	case "default":
		return 3, nil
	case "high":
		return 4, nil
	case "urgent", "max":
		return 5, nil
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 1 && n <= 5 {
		return n, nil
	}
	return 0, tocsin.Errorf(tocsin.EInvalid, "Priority must be 1 to 5 or min, low, default, high, urgent")
}
