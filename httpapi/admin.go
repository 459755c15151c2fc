package httpapi

import (
	"net/http"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/web"
)

// The admin console: its own page at /admin, under the dashboard's strict CSP (only
// this server: the page, its script and the API). It holds no credential: the page
// asks for an API key and keeps it in the tab's sessionStorage.

func (s *Server) admin(w http.ResponseWriter, _ *http.Request, _ tocsin.Principal) error {
	return writePage(w, web.AdminHTML)
}

func (s *Server) adminJS(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	return s.writeScript(w, r, "admin.js", web.AdminJS)
}
