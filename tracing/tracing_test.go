package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// recordingTransport keeps the last request it was given.
type recordingTransport struct {
	last   *http.Request
	closed bool
}

func (t *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.last = r
	return httptest.NewRecorder().Result(), nil
}

func (t *recordingTransport) CloseIdleConnections() { t.closed = true }

func TestTransport(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	traced, span := tp.Tracer("test").Start(context.Background(), "attempt")
	defer span.End()
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"

	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"no trace", context.Background(), ""},
		{"propagation asked without a trace", WithPropagation(context.Background()), ""},
		{"a trace without propagation", traced, ""},
		{"a trace with propagation", WithPropagation(traced), want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &recordingTransport{}
			req, _ := http.NewRequestWithContext(tc.ctx, http.MethodPost, "http://upstream.test/v1", nil)
			resp, err := Transport(rt).RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := rt.last.Header.Get("Traceparent"); got != tc.want {
				t.Errorf("traceparent %q, want %q", got, tc.want)
			}
			if req.Header.Get("Traceparent") != "" {
				t.Error("the caller's request was changed")
			}
		})
	}

	rt := &recordingTransport{}
	(&http.Client{Transport: Transport(rt)}).CloseIdleConnections()
	if !rt.closed {
		t.Error("CloseIdleConnections did not reach the wrapped transport")
	}
}

func TestTracer(t *testing.T) {
	if Tracer(context.Background()) != nil {
		t.Error("a tracer without a span in the context")
	}
	ctx, span := sdktrace.NewTracerProvider().Tracer("test").Start(context.Background(), "caddy")
	defer span.End()
	tr := Tracer(ctx)
	if tr == nil {
		t.Fatal("no tracer under a span")
	}
	_, child := tr.Start(ctx, "child")
	defer child.End()
	if child.SpanContext().TraceID() != span.SpanContext().TraceID() || !child.SpanContext().IsValid() {
		t.Error("the tracer's spans do not join the parent's trace")
	}
}
