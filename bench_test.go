package xjpgateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// benchGateway provisions a gateway with the echo provider and one static
// key, as Caddy would, with no listener.
func benchGateway(b *testing.B) *Gateway {
	b.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	g := &Gateway{
		Providers: map[string]json.RawMessage{"echo": json.RawMessage(`{"type":"echo"}`)},
		Models:    map[string]*ModelConfig{"echo-1": {Primary: RouteList{{Provider: "echo"}}}},
		Auth:      json.RawMessage(`{"store":"static","keys":[{"key":"xjp-bench-key","tenant":"bench"}]}`),
	}
	if err := g.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	return g
}

var nextNotCalled = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
	panic("next handler called")
})

// benchServe runs ServeHTTP on body with a response recorder, as one
// request through Caddy's handler chain would (replacer included).
func benchServe(b *testing.B, body string, wantIn string) {
	g := benchGateway(b)
	raw := []byte(body)
	rd := bytes.NewReader(raw)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(raw)
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", rd)
		r.Header.Set("Authorization", "Bearer xjp-bench-key")
		r.Header.Set("Content-Type", "application/json")
		caddyhttp.NewTestReplacer(r)
		w := httptest.NewRecorder()
		if err := g.ServeHTTP(w, r, nextNotCalled); err != nil || w.Code != http.StatusOK {
			b.Fatalf("status %d, err %v: %s", w.Code, err, w.Body)
		}
		if !strings.Contains(w.Body.String(), wantIn) {
			b.Fatalf("answer lacks %q: %s", wantIn, w.Body)
		}
	}
}

// BenchmarkServeHTTPEcho is the gateway's whole cost for one request on
// the echo provider, without the network: auth, decode, route, answer.
func BenchmarkServeHTTPEcho(b *testing.B) {
	benchServe(b, `{"model":"echo-1","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there gateway"}]}`,
		`"content":"Hello there gateway"`)
}

// BenchmarkServeHTTPEchoStream is the same, streamed: six events.
func BenchmarkServeHTTPEchoStream(b *testing.B) {
	benchServe(b, `{"model":"echo-1","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there gateway"}]}`,
		"data: [DONE]")
}
