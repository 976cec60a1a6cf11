package xjpgateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/routing"
	"github.com/xiaojinpro/xjp-gateway/tracing"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Tracing tunes the gateway's OpenTelemetry spans. The gateway makes
// spans when Caddy's tracing handler runs before it (the tracing
// directive), as children of that handler's span, exported with it.
type Tracing struct {
	// Propagate sends the W3C trace context (traceparent, tracestate) of
	// each upstream attempt's span to the provider, so that a provider or
	// a proxy in front of it that traces can join the trace. Default: off;
	// providers learn nothing of the caller's traces.
	Propagate bool `json:"propagate,omitempty"`
}

// Attribute keys of the OpenTelemetry semantic conventions for
// generative AI, and the gateway's own.
const (
	attrOperation = attribute.Key("gen_ai.operation.name")
	attrSystem    = attribute.Key("gen_ai.system")
	// attrProviderName is gen_ai.system's newer name in the conventions;
	// both are set while tools read either.
	attrProviderName  = attribute.Key("gen_ai.provider.name")
	attrRequestModel  = attribute.Key("gen_ai.request.model")
	attrResponseModel = attribute.Key("gen_ai.response.model")
	attrInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	attrOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	attrFinish        = attribute.Key("gen_ai.response.finish_reasons")
	attrErrorType     = attribute.Key("error.type")
	attrStatus        = attribute.Key("http.response.status_code")

	attrRequestID   = attribute.Key("xjp.request_id")
	attrTenant      = attribute.Key("xjp.tenant")
	attrProvider    = attribute.Key("xjp.provider")
	attrUpstream    = attribute.Key("xjp.upstream_model")
	attrAttempts    = attribute.Key("xjp.attempts")
	attrAttempt     = attribute.Key("xjp.attempt")
	attrRetry       = attribute.Key("xjp.retry")
	attrFallback    = attribute.Key("xjp.fallback")
	attrStream      = attribute.Key("xjp.stream")
	attrCachedInput = attribute.Key("xjp.usage.cached_input_tokens")
)

// requestTrace is the span of one gateway request; the zero value (no
// tracer) makes no spans.
type requestTrace struct {
	tracer trace.Tracer
	span   trace.Span
}

// startRequestSpan starts the request's span under Caddy's tracing span,
// if there is one.
func (g *Gateway) startRequestSpan(r *http.Request, c *call) *http.Request {
	tracer := tracing.Tracer(r.Context())
	if tracer == nil {
		return r
	}
	ctx, span := tracer.Start(r.Context(), "chat", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attrOperation.String("chat"), attrRequestID.String(c.id)))
	c.obs.trace = requestTrace{tracer: tracer, span: span}
	c.ctx = ctx
	return r.WithContext(ctx)
}

// endRequestSpan reports what the request did and ends its span.
func (c *call) endRequestSpan(status int, u unified.Usage) {
	span := c.obs.trace.span
	if span == nil {
		return
	}
	c.obs.trace.span = nil
	if !span.IsRecording() { // not sampled: nobody reads the attributes
		span.End()
		return
	}
	attrs := make([]attribute.KeyValue, 0, 16)
	attrs = append(attrs, attrStatus.Int(status), attrAttempts.Int(c.attempts), attrFallback.Bool(c.fallback))
	if c.key != nil {
		attrs = append(attrs, attrTenant.String(c.key.Tenant))
	}
	if c.req != nil {
		span.SetName("chat " + c.req.Model)
		attrs = append(attrs, attrRequestModel.String(c.req.Model), attrStream.Bool(c.req.Stream))
	}
	if c.route.Provider != "" {
		system := genAISystem(c.route.Connector)
		attrs = append(attrs, attrSystem.String(system), attrProviderName.String(system),
			attrProvider.String(c.route.Provider), attrUpstream.String(c.route.Model),
			attrResponseModel.String(orDefault(c.obs.responseModel, c.route.Model)))
	}
	if c.attempts > 0 {
		attrs = append(attrs, attrInputTokens.Int(u.InputTokens), attrOutputTokens.Int(u.OutputTokens))
		if u.CachedInput > 0 {
			attrs = append(attrs, attrCachedInput.Int(u.CachedInput))
		}
	}
	if c.obs.finish != "" {
		attrs = append(attrs, attrFinish.StringSlice([]string{string(c.obs.finish)}))
	}
	if status >= 400 {
		attrs = append(attrs, attrErrorType.String(strconv.Itoa(status)))
		span.SetStatus(codes.Error, spanMessage(c.err))
	}
	span.SetAttributes(attrs...)
	span.End()
}

// startAttemptSpan starts the span of one upstream call, under the
// request's span; the function it returns ends it with the call's
// outcome. With tracing off both cost nothing.
func (g *Gateway) startAttemptSpan(ctx context.Context, c *call, a routing.Attempt) (context.Context, func(error)) {
	tracer := c.obs.trace.tracer
	if tracer == nil {
		return ctx, func(error) {}
	}
	system := genAISystem(a.Route.Connector)
	ctx, span := tracer.Start(ctx, "chat "+a.Route.Model, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attrOperation.String("chat"),
			attrSystem.String(system),
			attrProviderName.String(system),
			attrRequestModel.String(a.Route.Model),
			attrProvider.String(a.Route.Provider),
			attrAttempt.Int(c.attempts),
			attrRetry.Int(a.Try-1),
			attrFallback.Bool(a.Fallback),
		))
	if g.Tracing != nil && g.Tracing.Propagate {
		ctx = tracing.WithPropagation(ctx)
	}
	return ctx, func(err error) {
		if err != nil {
			e := unified.AsError(err)
			span.SetAttributes(attrErrorType.String(strconv.Itoa(e.Status())))
			span.SetStatus(codes.Error, spanMessage(e))
		}
		span.End()
	}
}

// genAISystem is the gen_ai.system of a provider: the vendor its API
// belongs to, in the semantic conventions' words where they have one.
func genAISystem(conn connectors.Connector) string {
	m, ok := conn.(caddy.Module)
	if !ok {
		if conn == nil {
			return ""
		}
		return conn.Capabilities().Dialect
	}
	switch name := m.CaddyModule().ID.Name(); name {
	case "vertex":
		return "gcp.vertex_ai"
	case "gemini":
		return "gcp.gemini"
	case "clewdr":
		return "anthropic"
	default:
		return name
	}
}

// spanMessage is the description of a failed span: the error's message,
// except for a provider's refusal of the gateway's credentials, whose
// text may quote part of the credential.
func spanMessage(e *unified.Error) string {
	if e == nil || e.Kind == unified.KindAuthentication || e.UpstreamStatus == http.StatusUnauthorized ||
		e.UpstreamStatus == http.StatusForbidden {
		return ""
	}
	return e.Message
}
