package xjpgateway

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

func TestRouteListJSON(t *testing.T) {
	var one, many RouteList
	if err := json.Unmarshal([]byte(`{"provider":"a","model":"m"}`), &one); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(` [{"provider":"a","weight":3},{"provider":"b"}]`), &many); err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0] != (RouteConfig{Provider: "a", Model: "m"}) ||
		len(many) != 2 || many[0].Weight != 3 || many[1].Provider != "b" {
		t.Fatalf("one %+v many %+v", one, many)
	}
	for list, want := range map[*RouteList]string{
		&one:  `{"provider":"a","model":"m"}`,
		&many: `[{"provider":"a","weight":3},{"provider":"b"}]`,
	} {
		if b, _ := json.Marshal(*list); string(b) != want {
			t.Errorf("marshalled %s, want %s", b, want)
		}
	}
	var bad RouteList
	for _, in := range []string{`{"provider":"a","wieght":3}`, `[{"provider":"a","modle":"m"}]`, `"a"`} {
		if err := json.Unmarshal([]byte(in), &bad); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}

// provisionRoutes provisions a gateway with the given providers and
// models JSON.
func provisionRoutes(t *testing.T, providers, models, retry string) (*Gateway, error) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	cfg := `{"providers":` + providers + `,"models":` + models + `,"auth":{"store":"static","keys":[{"key":"k","tenant":"t"}]}`
	if retry != "" {
		cfg += `,"retry":` + retry
	}
	g := new(Gateway)
	if err := caddy.StrictUnmarshalJSON([]byte(cfg+"}"), g); err != nil {
		t.Fatal(err)
	}
	err := g.Provision(ctx)
	t.Cleanup(func() { _ = g.Cleanup() })
	return g, err
}

func TestBuildRoutesResolvesPolicies(t *testing.T) {
	g, err := provisionRoutes(t,
		`{"or":{"type":"openrouter","base_url":"http://or.test","timeouts":{"first_byte":20000000000,"total":60000000000},"breaker":{"failures":2}},
		  "echo":{"type":"echo"}}`,
		`{"m":{"primary":[{"provider":"or","model":"x","weight":3},{"provider":"echo"}],"fallbacks":[{"provider":"or","model":"y"}],
		       "retry":{"attempts":2},"timeouts":{"first_byte":-1,"stream_idle":1000000000}},
		  "legacy":{"primary":{"provider":"echo"}}}`,
		`{"attempts":4,"backoff":{"initial":1000000}}`)
	if err != nil {
		t.Fatal(err)
	}
	m := g.routes.Lookup("m")
	if len(m.Primary) != 2 || len(m.Fallbacks) != 1 || m.Primary[0].Weight != 3 {
		t.Fatalf("routes %+v", m)
	}
	or := m.Primary[0]
	if want := (resilience.Limits{FirstByte: 0, StreamIdle: time.Second, Total: time.Minute}); or.Timeouts != want {
		t.Errorf("or timeouts %+v, want %+v", or.Timeouts, want)
	}
	if echo := m.Primary[1]; echo.Timeouts != (resilience.Limits{StreamIdle: time.Second}) || echo.Breaker != nil {
		t.Errorf("echo route %+v", echo)
	}
	if or.Breaker == nil || m.Fallbacks[0].Breaker == nil || or.Breaker == m.Fallbacks[0].Breaker {
		t.Error("each upstream model of a provider needs its own breaker")
	}
	if m.Retry.Attempts != 2 || m.Retry.Initial != time.Millisecond {
		t.Errorf("model retry %+v", m.Retry)
	}
	if legacy := g.routes.Lookup("legacy"); legacy.Retry.Attempts != 4 || legacy.Primary[0].Timeouts != resilience.DefaultLimits {
		t.Errorf("legacy model %+v", legacy)
	}
}

func TestBuildRoutesRejects(t *testing.T) {
	for _, tc := range []struct{ name, providers, models, retry, want string }{
		{"weight on a fallback", `{"e":{"type":"echo"}}`, `{"m":{"primary":{"provider":"e"},"fallbacks":[{"provider":"e","weight":2}]}}`, "",
			"only primary routes have a weight"},
		{"negative weight", `{"e":{"type":"echo"}}`, `{"m":{"primary":{"provider":"e","weight":-1}}}`, "", "weight must be positive"},
		{"dial on a model", `{"e":{"type":"echo"}}`, `{"m":{"primary":{"provider":"e"},"timeouts":{"dial":1}}}`, "", "dial timeout is set on a provider"},
		{"bad retry condition", `{"e":{"type":"echo"}}`, `{"m":{"primary":{"provider":"e"}}}`, `{"on":["404"]}`, `unknown retry condition "404"`},
		{"bad breaker", `{"or":{"type":"openrouter","breaker":{"failure_ratio":3}}}`, `{"m":{"primary":{"provider":"or"}}}`, "",
			"failure_ratio must be between 0 and 1"},
		{"no primary", `{"e":{"type":"echo"}}`, `{"m":{"primary":[]}}`, "", "a primary route is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := provisionRoutes(t, tc.providers, tc.models, tc.retry)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCleanupReleasesBreakers(t *testing.T) {
	providers := `{"or":{"type":"openrouter","base_url":"http://release.test","breaker":{"failures":1,"cooldown":3600000000000}}}`
	models := `{"m":{"primary":{"provider":"or"}}}`
	g1, err := provisionRoutes(t, providers, models, "")
	if err != nil {
		t.Fatal(err)
	}
	b := g1.routes.Lookup("m").Primary[0].Breaker
	done, _ := b.Allow()
	done(&unified.Error{Kind: unified.KindUpstream})
	// A reload: the new config shares the open breaker; once the old one
	// is cleaned up and the new one too, the breaker is gone.
	g2, _ := provisionRoutes(t, providers, models, "")
	if g2.routes.Lookup("m").Primary[0].Breaker != b || !b.Open() {
		t.Fatal("a reload lost the breaker")
	}
	_ = g1.Cleanup()
	_ = g2.Cleanup()
	g3, _ := provisionRoutes(t, providers, models, "")
	if g3.routes.Lookup("m").Primary[0].Breaker == b {
		t.Error("the breaker outlived every config that used it")
	}
}
