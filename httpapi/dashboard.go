package httpapi

import (
	"net/http"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/web"
)

// The web dashboard: a user's notification center on <tocsin-inbox>, served from the
// binary, making no request outside this server (the admin console is admin.go).

// dashboardCSP allows only this server: the page, its script and /client.js, its
// API and streams.
const dashboardCSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func (s *Server) dashboard(w http.ResponseWriter, _ *http.Request, _ tocsin.Principal) error {
	return writePage(w, web.IndexHTML)
}

// writePage serves one of the browser pages (the dashboard, the admin console) under
// dashboardCSP. Each holds a credential (a user token, an API key): no Referer leaves
// it, and frame-ancestors 'none' keeps it out of frames.
func writePage(w http.ResponseWriter, page []byte) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, err := w.Write(page)
	return err
}

func (s *Server) dashboardJS(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	return s.writeScript(w, r, "app.js", web.AppJS)
}

// serviceWorkerCSP: the worker fetches only this server (the read ticket's call).
const serviceWorkerCSP = "default-src 'none'; connect-src 'self'"

// serviceWorkerJS: GET /sw.js, the Web Push service worker. Its default scope is the
// directory it is served from, which is the app's root (/ or the --base-path), so no
// Service-Worker-Allowed header is needed. no-cache: the browser revalidates it on
// every registration check, so a new version reaches workers at once.
func (s *Server) serviceWorkerJS(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Security-Policy", serviceWorkerCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	return s.writeScript(w, r, "sw.js", web.ServiceWorkerJS)
}

// devToken: POST /api/dev/token {"userId": "..."} mints a one-hour user token, only
// on a server started with --dev-tokens (404 otherwise, as if it did not exist).
func (s *Server) devToken(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	if s.cfg.DevToken == nil {
		return tocsin.Errorf(tocsin.ENotFound, "development sign-in is off (start the server with --dev-tokens)")
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	var in struct {
		UserID string `json:"userId"`
	}
	if err := decodeJSON(body, &in); err != nil {
		return err
	}
	if err := tocsin.ValidateUserID(in.UserID); err != nil {
		return err
	}
	tok, err := s.cfg.DevToken(in.UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": tok, "userId": in.UserID})
	return nil
}

// stats: GET /api/stats, this node's live figures for the admin console.
func (s *Server) stats(w http.ResponseWriter, _ *http.Request, _ tocsin.Principal) error {
	out := map[string]any{"streamsOpen": s.hub.OpenStreams()}
	if s.cfg.Totals != nil {
		p, d := s.cfg.Totals()
		out["eventsPublished"], out["eventsDelivered"] = p, d
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
