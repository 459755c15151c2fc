package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"path"
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

// clientJS: GET /client.js, the JavaScript client (an ES module).
func (s *Server) clientJS(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	return s.writeClientModule(w, r, "client.js", web.ClientJS)
}

// clientModule: GET /client-inbox.js, /client-rest.js, /client-push.js, the modules
// /client.js imports (named by the request's last path segment, so the route table
// lists each).
func (s *Server) clientModule(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	body, ok := web.ClientModule(path.Base(r.URL.Path))
	if !ok {
		return tocsin.Errorf(tocsin.ENotFound, "no such file")
	}
	return s.writeClientModule(w, r, path.Base(r.URL.Path), body)
}

// writeClientModule serves one module of the JavaScript client or of <tocsin-inbox>
// (name is its path under the root). Every one carries the same headers: a page on
// any origin imports client.js, and with it the modules it imports, as CORS requests
// (module scripts always are). It is revalidated on every load (scripts.go says why).
func (s *Server) writeClientModule(w http.ResponseWriter, r *http.Request, name string, body []byte) error {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Access-Control-Allow-Origin", "*") // a public file: any page may import it
	return s.writeScript(w, r, name, body)
}

// inboxJS: GET /inbox.js, the <tocsin-inbox> element (docs/inbox.md).
func (s *Server) inboxJS(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	return s.writeClientModule(w, r, "inbox.js", web.InboxJS)
}

// inboxModule: GET /inbox/{module}, the modules /inbox.js imports.
func (s *Server) inboxModule(w http.ResponseWriter, r *http.Request, _ tocsin.Principal) error {
	b, ok := web.InboxModule(r.PathValue("module"))
	if !ok {
		return tocsin.Errorf(tocsin.ENotFound, "no such module")
	}
	return s.writeClientModule(w, r, "inbox/"+r.PathValue("module"), b)
}
