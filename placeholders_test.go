package xjpgateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/auth"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/routing"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// TestPlaceholdersFollowThePipeline: each placeholder is unknown until the
// step that decides it, then shows the call's state.
func TestPlaceholdersFollowThePipeline(t *testing.T) {
	repl := caddy.NewReplacer()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
	c := newCall(httptest.NewRecorder(), r, openaiin.Dialect{})

	get := func(name string) (string, bool) { return repl.GetString(phPrefix + name) }
	want := func(step string, expect map[string]string) {
		t.Helper()
		for _, name := range []string{phRequestID, phDialect, phTenant, phKeyID, phModel, phProvider,
			phUpstreamModel, phAttempts, phFallback, phInputTokens, phOutputTokens} {
			got, known := get(name)
			exp, expKnown := expect[name]
			if known != expKnown || got != exp {
				t.Errorf("%s: %s = %q (known %v), want %q (known %v)", step, name, got, known, exp, expKnown)
			}
		}
	}

	want("start", map[string]string{phRequestID: c.id, phDialect: "openai"})

	c.key = &auth.Key{ID: "k1", Tenant: "acme"}
	c.req = &unified.Request{Model: "gpt-x"}
	c.route, c.attempts = routing.Route{Provider: "up", Model: "gpt-x-2"}, 1
	want("admitted, attempt running", map[string]string{phRequestID: c.id, phDialect: "openai",
		phTenant: "acme", phKeyID: "k1", phModel: "gpt-x"})

	c.route, c.attempts, c.fallback = routing.Route{Provider: "backup", Model: "m2"}, 2, true
	c.publishRoute()
	c.usage = unified.Usage{InputTokens: 7, OutputTokens: 3}
	c.end(time.Now())
	want("recorded", map[string]string{phRequestID: c.id, phDialect: "openai",
		phTenant: "acme", phKeyID: "k1", phModel: "gpt-x", phProvider: "backup", phUpstreamModel: "m2",
		phAttempts: "2", phFallback: "true", phInputTokens: "7", phOutputTokens: "3"})

	if _, known := repl.Get("http.xjp_gateway.nonsense"); known {
		t.Error("an unknown gateway placeholder is known")
	}
}
