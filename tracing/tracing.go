// Package tracing gives the gateway's OpenTelemetry spans their tracer
// and carries W3C trace context to providers.
//
// The gateway does not configure an exporter of its own: its spans are
// children of the span Caddy's tracing handler starts for the request,
// made with that span's tracer provider, so they are exported wherever
// Caddy's tracing exports (OTLP, configured with OTEL_EXPORTER_OTLP_*
// variables). Without Caddy's tracing handler on the route there is no
// span in the request's context and the gateway makes none: tracing then
// costs a context lookup per request.
package tracing

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Instrumentation names the gateway's tracer.
const Instrumentation = "github.com/xiaojinpro/xjp-gateway"

// Tracer returns the tracer for spans under the span in ctx, or nil when
// ctx holds no valid span (Caddy's tracing handler is not in the route).
func Tracer(ctx context.Context) trace.Tracer {
	sp := trace.SpanFromContext(ctx)
	if !sp.SpanContext().IsValid() {
		return nil
	}
	return sp.TracerProvider().Tracer(Instrumentation)
}

type propagateKey struct{}

// WithPropagation marks ctx so that requests to providers made with it
// (through a client whose transport is wrapped by Transport) carry the
// W3C traceparent and tracestate of the span in ctx.
func WithPropagation(ctx context.Context) context.Context {
	return context.WithValue(ctx, propagateKey{}, true)
}

// Transport wraps rt so that it adds the W3C trace context to the
// requests whose context asks for it (WithPropagation). Other requests go
// through untouched.
func Transport(rt http.RoundTripper) http.RoundTripper { return &transport{rt: rt} }

type transport struct{ rt http.RoundTripper }

var w3c = propagation.TraceContext{}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if ctx.Value(propagateKey{}) != nil && trace.SpanContextFromContext(ctx).IsValid() {
		req = req.Clone(ctx) // a RoundTripper must not change its caller's request
		w3c.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return t.rt.RoundTrip(req)
}

// CloseIdleConnections closes the wrapped transport's idle connections
// (http.Client.CloseIdleConnections looks for this method).
func (t *transport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
