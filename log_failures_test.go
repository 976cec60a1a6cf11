package xjpgateway

import (
	"context"
	"errors"
	"github.com/xiaojinpro/xjp-gateway/internal/logthrottle"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xiaojinpro/xjp-gateway/auth"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/idempotency"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

type brokenStore struct{}

func (brokenStore) Authenticate(context.Context, string) (*auth.Key, error) {
	return nil, errors.Join(auth.ErrUnavailable, errors.New("dial tcp 127.0.0.1:5432: connection refused"))
}

// TestKeyStoreFailureLogIsThrottled: a key store outage answers every
// request with 503 but logs once per interval, then says how many lines it
// held back.
func TestKeyStoreFailureLogIsThrottled(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := &Gateway{keys: brokenStore{}, logger: zap.New(core)}
	g.keyStoreErrors = &logthrottle.Throttle{Every: keyStoreLogInterval, Now: func() time.Time { return now }}

	call := func() {
		t.Helper()
		r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		r.Header.Set("Authorization", "Bearer sk-client")
		_, err := g.authenticate(r)
		if err == nil || err.Kind != unified.KindUnavailable {
			t.Fatalf("authenticate = %v, want unavailable", err)
		}
	}
	for range 1000 {
		call()
	}
	if n := logs.FilterMessage("key store failed").Len(); n != 1 {
		t.Fatalf("%d log lines for 1000 failures within the interval, want 1", n)
	}
	now = now.Add(keyStoreLogInterval)
	call()
	got := logs.FilterMessage("key store failed").AllUntimed()
	if len(got) != 2 {
		t.Fatalf("%d log lines after the interval, want 2", len(got))
	}
	if s := got[0].ContextMap()["suppressed"]; s != nil {
		t.Errorf("first line has suppressed=%v", s)
	}
	if s := got[1].ContextMap()["suppressed"]; s != int64(999) {
		t.Errorf("second line has suppressed=%v, want 999", s)
	}
	if got[1].Level != zapcore.ErrorLevel {
		t.Errorf("level %v, want error", got[1].Level)
	}
}

type brokenIdempotencyStore struct{}

func (brokenIdempotencyStore) Begin(context.Context, idempotency.Key, idempotency.Fingerprint) (idempotency.Claim, *idempotency.Response, error) {
	return nil, nil, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// TestIdempotencyStoreFailureLogIsThrottled: a Redis outage answers each
// request with an idempotency key with 503 and logs once per interval.
func TestIdempotencyStoreFailureLogIsThrottled(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := testGateway(nil, nil)
	g.logger = zap.New(core)
	g.idem = &idempotent{header: "Idempotency-Key", store: brokenIdempotencyStore{},
		storeErrors: &logthrottle.Throttle{Every: keyStoreLogInterval, Now: func() time.Time { return now }}}
	for i := range 100 {
		r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		r.Header.Set("Idempotency-Key", "k")
		c := &call{id: "req", start: time.Now(), dialect: openaiin.Dialect{}, ctx: r.Context(),
			key: &auth.Key{ID: "k", Tenant: "t"}, body: []byte(`{}`)}
		w := httptest.NewRecorder()
		g.executeOnce(w, r, c)
		if w.Code != 503 {
			t.Fatalf("request %d: status %d", i, w.Code)
		}
	}
	if n := logs.FilterMessage("idempotency store failed").Len(); n != 1 {
		t.Fatalf("%d log lines for 100 failures within the interval, want 1", n)
	}
}
