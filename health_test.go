package xjpgateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/auth"
)

// readyStore is a key store whose readiness the test sets.
type readyStore struct {
	auth.Store
	err error
}

func (s *readyStore) Ready(context.Context) error { return s.err }

func TestHealthEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name     string
		keys     auth.Store
		method   string
		path     string
		status   int
		body     string
		nextCall bool
	}{
		{"ready", &readyStore{}, http.MethodGet, "/healthz", 200, `{"status":"ok","checks":{"key_store":"ok"}}` + "\n", false},
		{"database down", &readyStore{err: errors.New("dial tcp 10.0.0.7:5432: connection refused")}, http.MethodGet, "/healthz", 503,
			`{"status":"unavailable","checks":{"key_store":"unavailable"}}` + "\n", false},
		{"a store without a database", &auth.StaticStore{}, http.MethodHead, "/healthz", 200, "", false},
		{"other methods", &readyStore{}, http.MethodPost, "/healthz", 405, "method not allowed\n", false},
		{"other paths go on", &readyStore{}, http.MethodGet, "/health", 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Gateway{HealthPath: "/healthz", keys: tc.keys, logger: zap.NewNop()}
			w := httptest.NewRecorder()
			called := false
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil })
			if err := g.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, nil), next); err != nil {
				t.Fatal(err)
			}
			if called != tc.nextCall {
				t.Fatalf("next handler called: %v", called)
			}
			if tc.nextCall {
				return
			}
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Errorf("%d %q, want %d %q", w.Code, w.Body.String(), tc.status, tc.body)
			}
		})
	}
}
