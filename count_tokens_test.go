package xjpgateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/routing"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// counter is a connector that counts tokens, and counts its calls.
type counter struct {
	n     int
	calls int
}

func (c *counter) Capabilities() connectors.Capabilities { return connectors.Capabilities{} }
func (c *counter) Generate(context.Context, *unified.Request) (*unified.Response, error) {
	return nil, errors.New("not used")
}
func (c *counter) Stream(context.Context, *unified.Request) (unified.Stream, error) {
	return nil, errors.New("not used")
}
func (c *counter) CountTokens(context.Context, *unified.Request) (int, error) {
	c.calls++
	return c.n, nil
}

// TestCountTokensPassesOverOpenBreakers: a route whose breaker is open is
// not asked to count; the next one is.
func TestCountTokensPassesOverOpenBreakers(t *testing.T) {
	open, release, err := resilience.AcquireBreaker(t.Name(), "", resilience.BreakerConfig{Failures: 1, Cooldown: caddy.Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = release() })
	done, _ := open.Allow()
	done(&unified.Error{Kind: unified.KindUpstream, Retryable: true})
	if !open.Open() {
		t.Fatal("the breaker did not open")
	}

	failing, healthy := &counter{n: 1}, &counter{n: 42}
	m := &routing.Model{Name: "m", Primary: []routing.Route{
		{Provider: "failing", Connector: failing, Model: "a", Breaker: open},
		{Provider: "healthy", Connector: healthy, Model: "b"},
	}}
	g := testGateway(nil, &fakeAccounts{})
	r := httptest.NewRequest(http.MethodPost, "/v1/messages/count_tokens", nil)
	c := &call{ctx: r.Context(), model: m, req: &unified.Request{Model: "m",
		Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("hello")}}}}}
	n, exact, uerr := g.countTokens(r, c)
	if uerr != nil || n != 42 || !exact {
		t.Fatalf("count = %d exact %v err %v", n, exact, uerr)
	}
	if failing.calls != 0 || healthy.calls != 1 {
		t.Errorf("calls: failing %d, healthy %d", failing.calls, healthy.calls)
	}
}
