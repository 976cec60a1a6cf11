package integration

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
)

func fixture(t *testing.T, name string) []byte { return fixtures.Read(t, name) }

// upstream is a fake provider. Each test installs its own behaviour with
// reset; the fake records every request it receives.
type upstream struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []recorded
	respond  http.HandlerFunc
}

type recorded struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

func newUpstream() *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw)) // for behaviours that read it too
	rec := recorded{Path: r.URL.Path, Header: r.Header.Clone()}
	_ = json.Unmarshal(raw, &rec.Body)
	u.mu.Lock()
	u.requests = append(u.requests, rec)
	respond := u.respond
	u.mu.Unlock()
	if respond == nil {
		http.Error(w, "no behaviour installed", http.StatusTeapot)
		return
	}
	respond(w, r)
}

// reset installs respond for the current test and forgets old requests.
func (u *upstream) reset(t *testing.T, respond http.HandlerFunc) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.requests, u.respond = nil, respond
	t.Cleanup(func() {
		u.mu.Lock()
		u.respond = nil
		u.mu.Unlock()
	})
}

// only returns the single request the upstream received.
func (u *upstream) only(t *testing.T) recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) != 1 {
		t.Fatalf("upstream received %d requests, want 1", len(u.requests))
	}
	return u.requests[0]
}

// serveSSE answers with an event-stream body, flushed as a whole.
func serveSSE(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// serveJSON answers with a JSON body and a status.
func serveJSON(status int, body []byte, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}
