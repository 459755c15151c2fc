package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tocsin/tocsin"
	"github.com/tocsin/tocsin/web"
)

//go:embed openapi.json
var openapiJSON []byte

// healthz: the process is up and serving.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ tocsin.Principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
	return nil
}

// readyz: the store answers, so this node can take traffic. An unreachable bus makes
// it "degraded" but still ready: publishes succeed and clients catch up from the
// store once the bus is back, so a load balancer should keep sending traffic.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	var warnings []string
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		var err error
		if warnings, err = s.cfg.Ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err)
			return tocsin.Errorf(tocsin.EUnavailable, "not ready: %s", tocsin.ErrorMessageOf(err))
		}
	}
	if len(warnings) > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"status": "degraded", "warnings": warnings})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	if s.cfg.Gatherer == nil {
		return tocsin.Errorf(tocsin.ENotFound, "metrics are disabled")
	}
	promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request, _ tocsin.Principal) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(s.openapiDoc)
	return err
}

// withVersion is the OpenAPI description with info.version set to the server's
// version, the one /healthz reports (the file in the repository says 0.1.0).
func withVersion(doc []byte, version string) []byte {
	if version == "" {
		return doc
	}
	var d map[string]json.RawMessage
	var info map[string]json.RawMessage
	if json.Unmarshal(doc, &d) != nil || json.Unmarshal(d["info"], &info) != nil {
		return doc
	}
	info["version"], _ = json.Marshal(version)
	d["info"], _ = json.Marshal(info)
	out, err := json.Marshal(d)
	if err != nil {
		return doc
	}
	return out
}

// publicModule writes an ES module any page may import: a cross-origin
// <script type="module"> needs CORS, and the file holds nothing private.
func publicModule(w http.ResponseWriter, b []byte) error {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("X-Content-Type-Options", "nosniff")
	_, err := w.Write(b)
	return err
}

// inboxJS: GET /inbox.js, the <tocsin-inbox> element (docs/inbox.md).
func (s *Server) inboxJS(w http.ResponseWriter, _ *http.Request, _ tocsin.Principal) error {
	return publicModule(w, web.InboxJS)
}

// inboxModule: GET /inbox/{module}, the modules /inbox.js imports.
func (s *Server) inboxModule(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	b, ok := web.InboxModule(r.PathValue("module"))
	if !ok {
		return tocsin.Errorf(tocsin.ENotFound, "no such module")
	}
	return publicModule(w, b)
}

// clientJS: GET /client.js, the JavaScript client (an ES module).
func (s *Server) clientJS(w http.ResponseWriter, _ *http.Request, _ tocsin.Principal) error {
	return publicModule(w, web.ClientJS)
}
