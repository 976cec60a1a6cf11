package xjpgateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/ratelimit"
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

// TestHealthEndpointClusterStore: in cluster mode the probe also pings
// the rate-limit store's Redis; Redis down makes the gateway unavailable
// with on_failure closed, degraded (still 200) with on_failure open.
func TestHealthEndpointClusterStore(t *testing.T) {
	url := os.Getenv("XJP_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	live := redis.NewClient(opt)
	defer live.Close()
	if err := live.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("Redis at %s is not reachable (start it, or set XJP_TEST_REDIS_URL): %v", url, err)
	}
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer dead.Close()

	for _, tc := range []struct {
		name     string
		client   *redis.Client
		failOpen bool
		keys     error
		status   int
		body     string
	}{
		{"all up", live, false, nil, 200, `{"status":"ok","checks":{"key_store":"ok","rate_limit_store":"ok"}}`},
		{"redis down, failing closed", dead, false, nil, 503, `{"status":"unavailable","checks":{"key_store":"ok","rate_limit_store":"unavailable"}}`},
		{"redis down, failing open", dead, true, nil, 200, `{"status":"degraded","checks":{"key_store":"ok","rate_limit_store":"unavailable"}}`},
		{"both down", dead, true, errors.New("down"), 503, `{"status":"unavailable","checks":{"key_store":"unavailable","rate_limit_store":"unavailable"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Gateway{HealthPath: "/healthz", keys: &readyStore{err: tc.keys}, logger: zap.NewNop(), clusterProbe: new(probe),
				cluster: &clusterLimits{store: ratelimit.NewRedis(tc.client, ratelimit.RedisConfig{}), failOpen: tc.failOpen}}
			w := httptest.NewRecorder()
			if err := g.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil), nil); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || w.Body.String() != tc.body+"\n" {
				t.Errorf("%d %s, want %d %s", w.Code, w.Body, tc.status, tc.body)
			}
		})
	}
}
