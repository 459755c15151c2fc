package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHealthAndReadiness(t *testing.T) {
	n := startNode(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := n.do("GET", path, "", nil)
		var body map[string]string
		r.json(t, &body)
		if r.Status != http.StatusOK || body["status"] == "" {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
	}
}

// metricValue returns the value of the sample whose line starts with series.
func metricValue(t *testing.T, text, series string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("metric %s not exposed", series)
	}
	return m[1]
}

func TestMetricsCountWhatHappened(t *testing.T) {
	n := startNode(t)
	s := n.openStream("/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "m1"))
	s.expect("init")
	for range 3 {
		n.publish("m1", nil)
		s.expect("notification")
		s.expect("unread")
	}
	var text string
	// Delivered counts are reported after each write batch; wait for the third.
	for deadline := time.Now().Add(5 * time.Second); ; {
		r := n.do("GET", "/metrics", "", nil)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("/metrics: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		text = string(r.Body)
		if metricValue(t, text, "tocsin_events_delivered_total") == "3" || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for series, want := range map[string]string{
		`tocsin_events_published_total`:                "3",
		`tocsin_events_delivered_total`:                "3",
		`tocsin_streams_open{transport="sse"}`:         "1",
		`tocsin_streams_opened_total{transport="sse"}`: "1",
		`tocsin_slow_consumer_disconnects_total`:       "0",
		`tocsin_publish_duration_seconds_count`:        "3",
	} {
		if got := metricValue(t, text, series); got != want {
			t.Errorf("%s = %s, want %s", series, got, want)
		}
	}
	if !strings.Contains(text, `tocsin_http_requests_total{`) || !strings.Contains(text, "go_goroutines ") {
		t.Error("http request and Go runtime metrics are missing")
	}
	if strings.Contains(text, apiKey) || strings.Contains(text, jwtSecret) {
		t.Fatal("a secret leaked into /metrics")
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	n := startNode(t)
	r := n.do("GET", "/api/openapi.json", "", nil)
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	r.json(t, &doc)
	if r.Status != http.StatusOK || !strings.HasPrefix(doc.OpenAPI, "3.") || doc.Paths["/api/notifications/stream"] == nil {
		t.Fatalf("openapi: %d %.200s", r.Status, r.Body)
	}
}

func TestBasePathMountsEverythingUnderThePrefix(t *testing.T) {
	n := startNode(t, "--base-path", "/notify")
	if r := n.do("GET", "/notify/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("/notify/healthz: %d", r.Status)
	}
	if r := n.do("GET", "/healthz", "", nil); r.Status != http.StatusNotFound {
		t.Fatalf("/healthz outside the prefix: %d, want 404", r.Status)
	}
	s := n.openStream("/notify/api/notifications/stream", "Authorization", "Bearer "+userToken(t, "b1"))
	s.expect("init")
	r := n.do("POST", "/notify/api/notifications", apiKey, map[string]any{"userId": "b1", "title": "hi"})
	if r.Status != http.StatusCreated {
		t.Fatalf("publish under prefix: %d %s", r.Status, r.Body)
	}
	if ev := s.expect("notification"); !strings.Contains(ev.Data, `"title":"hi"`) {
		t.Fatalf("event %+v", ev)
	}
}

func TestCORS(t *testing.T) {
	n := startNode(t, "--cors-origins", "https://app.example")
	t.Run("preflight from an allowed origin", func(t *testing.T) {
		r := n.do("OPTIONS", "/api/notifications", "", nil,
			"Origin", "https://app.example", "Access-Control-Request-Method", "PATCH",
			"Access-Control-Request-Headers", "authorization")
		h := r.Header
		if r.Status != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
			h.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PATCH") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Last-Event-ID") {
			t.Fatalf("preflight: %d %v", r.Status, h)
		}
	})
	t.Run("request from an allowed origin", func(t *testing.T) {
		r := n.do("GET", "/api/notifications/unread-count", userToken(t, "c1"), nil, "Origin", "https://app.example")
		if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Fatalf("%d %v", r.Status, r.Header)
		}
	})
	t.Run("other origins get no CORS grant", func(t *testing.T) {
		r := n.do("OPTIONS", "/api/notifications", "", nil,
			"Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
		if r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("evil origin granted: %v", r.Header)
		}
	})
}

// TestHealthzAndOpenAPIAgreeOnTheVersion: /api/openapi.json's info.version is the
// version /healthz reports.
func TestHealthzAndOpenAPIAgreeOnTheVersion(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	var h struct{ Version string }
	n.do("GET", "/healthz", "", nil).json(t, &h)
	var doc struct{ Info struct{ Version string } }
	n.do("GET", "/api/openapi.json", "", nil).json(t, &doc)
	if h.Version == "" || doc.Info.Version != h.Version {
		t.Fatalf("healthz %q, openapi %q", h.Version, doc.Info.Version)
	}
}
