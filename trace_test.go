package xjpgateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

const traceUpstreamKey = "sk-trace-upstream-secret"

// traceUpstream answers /bad with 503 and /good with a completion (or a
// stream) with known usage, and keeps the traceparent of each call.
type traceUpstream struct {
	mu           sync.Mutex
	traceparents map[string]string
}

func (u *traceUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.traceparents[strings.Split(r.URL.Path, "/")[1]] = r.Header.Get("Traceparent")
	u.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/bad/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(503)
		_, _ = w.Write([]byte(`{"error":{"message":"overloaded","code":503}}`))
		return
	}
	var body struct{ Stream bool }
	_ = json.NewDecoder(r.Body).Decode(&body)
	if body.Stream {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"vendor/y-2025","choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"vendor/y-2025","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}

data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"vendor/y-2025","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}

data: [DONE]

`))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id":"c1","object":"chat.completion","created":1,"model":"vendor/y-2025",
"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],
"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`))
}

// traceGateway provisions a gateway whose model m tries the failing
// route first and falls back to the good one.
func traceGateway(t *testing.T, upstreamURL string, propagate bool) *Gateway {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	cfg := `{"providers":{
		"bad":{"type":"openrouter","base_url":"` + upstreamURL + `/bad","api_key":"` + traceUpstreamKey + `"},
		"good":{"type":"openrouter","base_url":"` + upstreamURL + `/good","api_key":"` + traceUpstreamKey + `"}},
	  "models":{"m":{"primary":{"provider":"bad","model":"vendor/x"},"fallbacks":[{"provider":"good","model":"vendor/y"}]}},
	  "auth":{"store":"static","keys":[{"key":"sk-trace-client-secret","tenant":"acme"}]},
	  "tracing":{"propagate":` + map[bool]string{true: "true", false: "false"}[propagate] + `}}`
	g := new(Gateway)
	if err := caddy.StrictUnmarshalJSON([]byte(cfg), g); err != nil {
		t.Fatal(err)
	}
	if err := g.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Cleanup() })
	return g
}

// serveTraced serves one chat request whose context holds parent, as
// Caddy's tracing handler leaves it.
func serveTraced(t *testing.T, g *Gateway, ctx context.Context, stream bool) {
	t.Helper()
	body := `{"model":"m","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,"messages":[{"role":"user","content":"hello"}]}`
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)).WithContext(ctx)
	r.Header.Set("Authorization", "Bearer sk-trace-client-secret")
	caddyhttp.NewTestReplacer(r)
	w := httptest.NewRecorder()
	if err := g.ServeHTTP(w, r, nextNotCalled); err != nil || w.Code != 200 {
		t.Fatalf("status %d, err %v: %s", w.Code, err, w.Body)
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestTraceSpans: under Caddy's span, a request makes its own span and
// one per upstream attempt, with the GenAI attributes, and the upstream
// gets the attempt's traceparent when propagation is on.
func TestTraceSpans(t *testing.T) {
	for _, stream := range []bool{false, true} {
		up := &traceUpstream{traceparents: map[string]string{}}
		srv := httptest.NewServer(up)
		defer srv.Close()
		g := traceGateway(t, srv.URL, true)

		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		ctx, caddySpan := tp.Tracer("caddy").Start(context.Background(), "handler", trace.WithSpanKind(trace.SpanKindServer))
		serveTraced(t, g, ctx, stream)
		caddySpan.End()

		byName := map[string]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			byName[s.Name()] = s
		}
		req, bad, good := byName["chat m"], byName["chat vendor/x"], byName["chat vendor/y"]
		if len(rec.Ended()) != 4 || req == nil || bad == nil || good == nil {
			var names []string
			for _, s := range rec.Ended() {
				names = append(names, s.Name())
			}
			t.Fatalf("stream %v: spans %q, want handler, chat m and one per attempt", stream, names)
		}
		// The tree: Caddy's span > the request's > the attempts.
		if req.Parent().SpanID() != caddySpan.SpanContext().SpanID() ||
			bad.Parent().SpanID() != req.SpanContext().SpanID() || good.Parent().SpanID() != req.SpanContext().SpanID() {
			t.Errorf("stream %v: the spans do not form the tree handler > chat m > attempts", stream)
		}
		if bad.SpanKind() != trace.SpanKindClient || bad.Status().Code != codes.Error || good.Status().Code == codes.Error {
			t.Errorf("stream %v: attempt kinds/statuses %v %v %v", stream, bad.SpanKind(), bad.Status(), good.Status())
		}

		ra := attrs(req)
		for k, want := range map[attribute.Key]any{
			"gen_ai.operation.name": "chat", "gen_ai.system": "openrouter", "gen_ai.provider.name": "openrouter", "gen_ai.request.model": "m",
			"gen_ai.response.model": "vendor/y-2025", "gen_ai.usage.input_tokens": int64(12), "gen_ai.usage.output_tokens": int64(3),
			"xjp.attempts": int64(2), "xjp.fallback": true, "xjp.provider": "good", "xjp.upstream_model": "vendor/y",
			"xjp.tenant": "acme", "http.response.status_code": int64(200), "xjp.stream": stream,
		} {
			if got := ra[k].AsInterface(); got != want {
				t.Errorf("stream %v: request span %s = %v, want %v", stream, k, got, want)
			}
		}
		if got := ra["gen_ai.response.finish_reasons"].AsStringSlice(); len(got) != 1 || got[0] != "length" {
			t.Errorf("stream %v: finish reasons %v", stream, got)
		}
		ba, ga := attrs(bad), attrs(good)
		if ba["xjp.fallback"].AsBool() || !ga["xjp.fallback"].AsBool() || ba["error.type"].AsString() != "503" ||
			ga["gen_ai.request.model"].AsString() != "vendor/y" || ga["xjp.attempt"].AsInt64() != 2 {
			t.Errorf("stream %v: attempt attributes %v / %v", stream, ba, ga)
		}

		// W3C trace context: each upstream call carries its attempt's span.
		for path, span := range map[string]sdktrace.ReadOnlySpan{"bad": bad, "good": good} {
			want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
			if got := up.traceparents[path]; got != want {
				t.Errorf("stream %v: %s got traceparent %q, want %q", stream, path, got, want)
			}
		}

		// No secret in any attribute.
		for _, s := range rec.Ended() {
			for _, kv := range s.Attributes() {
				if v := kv.Value.Emit(); strings.Contains(v, "secret") {
					t.Errorf("span %s attribute %s = %q holds a secret", s.Name(), kv.Key, v)
				}
			}
		}
	}
}

// TestTraceOff: without Caddy's span the gateway makes no span and sends
// no traceparent; with propagation off, spans are made but the upstream
// learns nothing.
func TestTraceOff(t *testing.T) {
	up := &traceUpstream{traceparents: map[string]string{}}
	srv := httptest.NewServer(up)
	defer srv.Close()

	serveTraced(t, traceGateway(t, srv.URL, true), context.Background(), false)
	if up.traceparents["good"] != "" {
		t.Errorf("traceparent %q sent without a trace", up.traceparents["good"])
	}

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, caddySpan := tp.Tracer("caddy").Start(context.Background(), "handler")
	serveTraced(t, traceGateway(t, srv.URL, false), ctx, false)
	caddySpan.End()
	if len(rec.Ended()) != 4 {
		t.Errorf("%d spans, want 4", len(rec.Ended()))
	}
	if up.traceparents["good"] != "" {
		t.Errorf("traceparent %q sent with propagation off", up.traceparents["good"])
	}
}

// TestTimingPlaceholders: cache use and timings are unknown until the
// request is recorded, then known.
func TestTimingPlaceholders(t *testing.T) {
	c := &call{usage: unified.Usage{InputTokens: 9, CachedInput: 4}, ttft: 1500 * time.Microsecond, upstreamWait: 2 * time.Millisecond}
	for _, name := range []string{phCachedTokens, phTTFT, phUpstreamMs, phGatewayMs} {
		if v, ok := c.placeholder(phPrefix + name); ok {
			t.Errorf("%s = %v before the request was recorded", name, v)
		}
	}
	c.end(c.start.Add(5 * time.Millisecond))
	for name, want := range map[string]string{phCachedTokens: "4", phTTFT: "1.500", phUpstreamMs: "2.000", phGatewayMs: "3.000"} {
		if v, ok := c.placeholder(phPrefix + name); !ok || v != want {
			t.Errorf("%s = %v (%v), want %s", name, v, ok, want)
		}
	}
}

// TestTraceNotSampled: under a span its sampler dropped, the gateway's
// spans are dropped too, and the upstream still learns the trace (with the
// sampled flag off).
func TestTraceNotSampled(t *testing.T) {
	up := &traceUpstream{traceparents: map[string]string{}}
	srv := httptest.NewServer(up)
	defer srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, caddySpan := tp.Tracer("caddy").Start(context.Background(), "handler")
	serveTraced(t, traceGateway(t, srv.URL, true), ctx, true)
	caddySpan.End()
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans recorded", n)
	}
	got := up.traceparents["good"]
	if !strings.HasPrefix(got, "00-"+caddySpan.SpanContext().TraceID().String()+"-") || !strings.HasSuffix(got, "-00") {
		t.Errorf("traceparent %q", got)
	}
}

// TestServerTimingOnFailures: a refused request also says how long the
// gateway took.
func TestServerTimingOnFailures(t *testing.T) {
	g := traceGateway(t, "http://127.0.0.1:9", false)
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{}`))
	r.Header.Set("Authorization", "Bearer sk-not-a-key")
	caddyhttp.NewTestReplacer(r)
	w := httptest.NewRecorder()
	if err := g.ServeHTTP(w, r, nextNotCalled); err != nil {
		t.Fatal(err)
	}
	if st := w.Header().Get("Server-Timing"); w.Code != 401 || !strings.HasPrefix(st, "gateway;dur=") || !strings.HasSuffix(st, ", upstream;dur=0.000") {
		t.Errorf("%d, Server-Timing %q", w.Code, st)
	}
}
