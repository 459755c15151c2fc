package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/auth"
)

// parseListQuery reads status, type, tag, q, limit and cursor.
func (s *Server) parseListQuery(r *http.Request) (tocsin.ListQuery, error) {
	q := r.URL.Query()
	lq := tocsin.ListQuery{Status: tocsin.StatusAll, Limit: tocsin.DefaultListLimit, Now: s.now()}
	switch st := tocsin.Status(q.Get("status")); st {
	case "":
	case tocsin.StatusAll, tocsin.StatusUnread, tocsin.StatusRead, tocsin.StatusArchived:
		lq.Status = st
	default:
		return lq, tocsin.Errorf(tocsin.EInvalid, "status must be unread, read, all or archived")
	}
	types, err := parseTypes(q.Get("type"))
	if err != nil {
		return lq, err
	}
	lq.Types = types
	if tag := q.Get("tag"); tag != "" {
		if len(tag) > tocsin.MaxTagLen || !printableUTF8(tag) {
			return lq, tocsin.Errorf(tocsin.EInvalid, "tag is not a valid tag")
		}
		lq.Tag = tag
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > tocsin.MaxListLimit {
			return lq, tocsin.Errorf(tocsin.EInvalid, "limit must be a number from 1 to %d", tocsin.MaxListLimit)
		}
		lq.Limit = n
	}
	if search := q.Get("q"); search != "" {
		if err := tocsin.ValidSearch(search); err != nil {
			return lq, err
		}
		if strings.TrimSpace(search) != "" { // blank: no search
			lq.Q = search
		}
	}
	if c := q.Get("cursor"); c != "" {
		if err := parseCursor(c, &lq); err != nil {
			return lq, err
		}
	}
	return lq, nil
}

// parseTypes reads a comma-separated list of notification types.
func parseTypes(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) > 64 {
		return nil, tocsin.Errorf(tocsin.EInvalid, "at most 64 types may be named")
	}
	for _, t := range parts {
		if !tocsin.ValidName(t) {
			return nil, tocsin.Errorf(tocsin.EInvalid, "type %q must match [A-Za-z0-9_.:-]{1,64}", clip(t))
		}
	}
	return parts, nil
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "?")
}

func printableUTF8(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

func (s *Server) listFor(w http.ResponseWriter, r *http.Request, userID string) error {
	lq, err := s.parseListQuery(r)
	if err != nil {
		return err
	}
	page, err := s.store.List(r.Context(), userID, lq)
	if err != nil {
		return err
	}
	// {"notifications":[...],"nextCursor":"..."|null,"unreadCount":N}, the
	// notifications appended directly (json.Marshal would re-read each one's bytes).
	b, err := tocsin.AppendNotificationsJSON(append(make([]byte, 0, 96+512*len(page.Notifications)),
		`{"notifications":`...), page.Notifications)
	if err != nil {
		return err
	}
	b = append(b, `,"nextCursor":`...)
	switch {
	case lq.Q != "" && page.NextOffset > 0: // base64url: nothing to escape
		b = append(append(append(b, '"'), searchCursor(lq, page)...), '"')
	case lq.Q == "" && page.NextBefore != "":
		b = append(base64.RawURLEncoding.AppendEncode(append(b, '"'), []byte(page.NextBefore)), '"')
	default:
		b = append(b, "null"...)
	}
	b = strconv.AppendInt(append(b, `,"unreadCount":`...), int64(page.UnreadCount), 10)
	writeJSONBytes(w, http.StatusOK, append(b, "}\n"...))
	return nil
}

// list: GET /api/notifications.
func (s *Server) list(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	return s.listFor(w, r, p.UserID)
}

// unreadCount: GET /api/notifications/unread-count.
func (s *Server) unreadCount(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	n, err := s.store.UnreadCount(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"unreadCount": n})
	return nil
}

// notificationID reads the {id} path value; ids of a shape this server never makes
// are not found, exactly like missing ones.
func notificationID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !tocsin.ValidNotificationID(id) {
		return "", errNotFound
	}
	return id, nil
}

// get: GET /api/notifications/{id}.
func (s *Server) get(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	id, err := notificationID(r)
	if err != nil {
		return err
	}
	n, err := s.store.Get(r.Context(), p.UserID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

// patch: PATCH /api/notifications/{id} with {"read", "seen", "archived",
// "snoozedUntil"}.
func (s *Server) patch(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	id, err := notificationID(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var patch tocsin.Patch
	if err := decodeJSON(body, &patch); err != nil {
		return err
	}
	if patch.Empty() {
		return tocsin.Errorf(tocsin.EInvalid, "nothing to change: send read, seen, archived or snoozedUntil")
	}
	n, err := s.hub.Update(r.Context(), p.UserID, id, patch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

// bulkPatch is the body of PATCH /api/notifications.
type bulkPatch struct {
	IDs      []string `json:"ids"`
	Read     *bool    `json:"read"`
	Seen     *bool    `json:"seen"`
	Archived *bool    `json:"archived"`
}

// patchMany: PATCH /api/notifications with {"ids": [...], "read", "seen",
// "archived"}: the selected items in one change and ONE notifications:updated
// event. Ids that are missing or another user's are passed over exactly as absent
// ones; the answer lists only the items that changed.
func (s *Server) patchMany(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in bulkPatch
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if len(in.IDs) == 0 || len(in.IDs) > tocsin.MaxBulkIDs {
		return tocsin.Errorf(tocsin.EInvalid, "ids must list 1 to %d notification ids", tocsin.MaxBulkIDs)
	}
	for _, id := range in.IDs {
		if !tocsin.ValidNotificationID(id) {
			return tocsin.Errorf(tocsin.EInvalid, "ids: %q is not a notification id", clip(id))
		}
	}
	patch := tocsin.Patch{Read: in.Read, Seen: in.Seen, Archived: in.Archived}
	if patch.Empty() {
		return tocsin.Errorf(tocsin.EInvalid, "nothing to change: send read, seen or archived")
	}
	ns, err := s.hub.UpdateMany(r.Context(), p.UserID, in.IDs, patch)
	if err != nil {
		return err
	}
	count, err := s.store.UnreadCount(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	if ns == nil {
		ns = []tocsin.Notification{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": ns, "unreadCount": count})
	return nil
}

// delete: DELETE /api/notifications/{id}.
func (s *Server) delete(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	id, err := notificationID(r)
	if err != nil {
		return err
	}
	if err := s.hub.Delete(r.Context(), p.UserID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readAll: POST /api/notifications/read-all.
func (s *Server) readAll(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	n, err := s.hub.ReadAll(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	count, err := s.store.UnreadCount(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"updated": n, "unreadCount": count})
	return nil
}

// streamTicket: POST /api/notifications/stream-ticket mints a single-use ticket that
// opens the user's stream within 60 s, so no long-lived token goes into a URL.
func (s *Server) streamTicket(w http.ResponseWriter, r *http.Request, p tocsin.Principal) error {
	// The ticket carries the end of the JWT it is minted from: a stream opened with it
	// ends when that token would have, and it cannot outlive the token.
	ticket, hash, err := auth.NewTicket(p.Expires)
	if err != nil {
		return err
	}
	exp := s.now().Add(auth.TicketTTL).Truncate(1e6)
	if !p.Expires.IsZero() && p.Expires.Before(exp) {
		exp = p.Expires
	}
	if err := s.store.PutTicket(r.Context(), tocsin.Ticket{Hash: hash, UserID: p.UserID, ExpiresAt: exp}); err != nil {
		return err
	}
	// userId: the client scopes what it shares between tabs by the user the server
	// says the credential is, also when the credential is a cookie it cannot read.
	writeJSON(w, http.StatusCreated, map[string]any{"ticket": ticket, "expiresAt": tocsin.Timestamp(exp), "userId": p.UserID})
	return nil
}

// adminList: GET /api/users/{userId}/notifications.
func (s *Server) adminList(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	userID := r.PathValue("userId")
	if err := tocsin.ValidateUserID(userID); err != nil {
		return err
	}
	return s.listFor(w, r, userID)
}

// adminDelete: DELETE /api/users/{userId}/notifications/{id}.
func (s *Server) adminDelete(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	userID := r.PathValue("userId")
	if err := tocsin.ValidateUserID(userID); err != nil {
		return err
	}
	id, err := notificationID(r)
	if err != nil {
		return err
	}
	if err := s.hub.Delete(r.Context(), userID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// adminConnections: GET /api/users/{userId}/connections lists the user's open
// streams on this node.
func (s *Server) adminConnections(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	userID := r.PathValue("userId")
	if err := tocsin.ValidateUserID(userID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"connections": s.hub.Connections(userID)})
	return nil
}
