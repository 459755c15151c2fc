package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsin/tocsin/auth"
	"github.com/tocsin/tocsin/httpapi"
	"github.com/tocsin/tocsin/hub"
	"github.com/tocsin/tocsin/internal/cputime"
	"github.com/tocsin/tocsin/membus"
	"github.com/tocsin/tocsin/sqlite"
)

const benchKey = "bench-api-key-0123456789"

// newBenchServer is a node as tocsin serve wires it (SQLite, memory bus), without
// the network: requests go straight to the handler.
func newBenchServer(b *testing.B) http.Handler {
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "tocsin.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	a, err := auth.New(auth.Config{APIKeys: []string{benchKey}})
	if err != nil {
		b.Fatal(err)
	}
	h := hub.New(hub.Config{Store: store, Bus: membus.New()})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	if err := h.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return httpapi.New(httpapi.Config{Hub: h, Store: store, Auth: a})
}

func post(b *testing.B, srv http.Handler, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/api/notifications", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+benchKey)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r)
	if w.Code != http.StatusCreated {
		b.Fatalf("publish: %d %s", w.Code, w.Body)
	}
	return w
}

// BenchmarkPublishHTTP: 50 concurrent publishers, each to its own 100 users, as
// tocsin bench publish sends them; everything a publish costs the server but the
// socket (auth, decoding, validation, the store's group commit, the response).
func BenchmarkPublishHTTP(b *testing.B) {
	srv := newBenchServer(b)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(25) // × GOMAXPROCS 2: 50 publishers
	b.ResetTimer()
	cpu0 := cputime.Process()
	b.RunParallel(func(pb *testing.PB) {
		p := next.Add(1)
		for i := 0; pb.Next(); i++ {
			post(b, srv, fmt.Sprintf(`{"userId":"bench-%d-%d","type":"bench","title":"bench","data":{"sentNs":%d}}`,
				p, i%100, time.Now().UnixNano()))
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
}

// BenchmarkPublishHTTPBulk: one publish to 10,000 userIds.
func BenchmarkPublishHTTPBulk(b *testing.B) {
	srv := newBenchServer(b)
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for i := range b.N {
		ids := make([]string, 10000)
		for j := range ids {
			ids[j] = fmt.Sprintf(`"bulk-%d-%d"`, i, j)
		}
		post(b, srv, `{"userIds":[`+strings.Join(ids, ",")+`],"type":"bench","title":"bench","data":{"sentNs":1}}`)
	}
	b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}
