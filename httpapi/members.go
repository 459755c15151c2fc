package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/tocsin/tocsin"
)

// The member-events surface (PRODUCT.md §5.3): a service's own event stream per
// member, where the member is named by a trusted gateway's header (Member-ID, alias
// MemberId) when --trusted-user-header is set, or by a user JWT as on every stream.
// A member is the same user as /api/users/{id}: one stream, one sequence.

// memberEvents: GET /events, the member's stream over SSE. It starts at the head of
// the stream (no init snapshot: these clients know only their event types) unless
// Last-Event-ID resumes it.
func (s *Server) memberEvents(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	req, err := s.subscribeRequest(r, p, "sse")
	if err != nil {
		return err
	}
	req.NoInit = true
	return s.serveSSE(w, r, p, req, sseEncoding{})
}

// memberEventInput is the body of POST /events.
type memberEventInput struct {
	Event *tocsin.CustomEventInput `json:"event"`
}

// publishMemberEvent: POST /events. The application's API key may publish to any
// member named by the Member-ID header; a member (trusted header or JWT) publishes
// to itself only.
func (s *Server) publishMemberEvent(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	member, p, err := s.memberOf(r)
	if err != nil {
		return err
	}
	if err := s.checkLimit(limitPublish, p, w.Header().Set); err != nil {
		return err
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in memberEventInput
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if in.Event == nil {
		return tocsin.Errorf(tocsin.EInvalid, `body must be {"event": {"type": "EVENT_TYPE", "body": {...}}}`)
	}
	ev, err := s.hub.PublishCustom(r.Context(), member, *in.Event)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": s.hub.EventID(ev.Seq), "event": ev.Name, "data": json.RawMessage(ev.Data),
	})
	return nil
}

// memberOf finds who POST /events publishes to, and who asks.
func (s *Server) memberOf(r *http.Request) (string, tocsin.Principal, error) {
	named := r.Header.Get("Member-ID")
	if named == "" {
		named = r.Header.Get("MemberId")
	}
	if bearer, ok := bearerToken(r); ok {
		if app, isKey := s.auth.APIKey(bearer); isKey {
			if named == "" {
				return "", app, tocsin.Errorf(tocsin.EInvalid, "Member-ID header is required: it names the member to publish to")
			}
			if err := tocsin.ValidateUserID(named); err != nil {
				return "", app, tocsin.Errorf(tocsin.EInvalid, "Member-ID: %s", tocsin.ErrorMessageOf(err))
			}
			return named, app, nil
		}
	}
	p, err := s.authenticate(r, authUser)
	if err != nil {
		return "", p, err
	}
	if named != "" && named != p.UserID {
		return "", p, tocsin.Errorf(tocsin.EForbidden, "a member may publish only to itself")
	}
	return p.UserID, p, nil
}
