package xjpgateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/xiaojinpro/xjp-gateway/metrics"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Metrics tunes the gateway's Prometheus metrics (the xjp_* series in
// Caddy's metrics registry: the admin endpoint's /metrics and the metrics
// handler).
type Metrics struct {
	// NoTenantLabel leaves the tenant label of every series empty, for
	// deployments with too many tenants to keep a series per tenant.
	// Default: series are labelled with the API key's tenant.
	NoTenantLabel bool `json:"no_tenant_label,omitempty"`
}

// observation is what the metrics, the trace and the access log learn
// of a request beyond what the rest of the pipeline keeps.
type observation struct {
	started       bool // counted in flight; record must end it
	responseModel string
	finish        unified.FinishReason
	trace         requestTrace
}

// provisionObservability registers the metrics into the config's
// registry.
func (g *Gateway) provisionObservability(ctx caddy.Context) error {
	if g.Metrics == nil {
		g.Metrics = new(Metrics)
	}
	g.clusterProbe = new(probe)
	return metrics.Register(ctx.GetMetricsRegistry())
}

// observeStart counts the request in flight, adds the gateway's fields
// to Caddy's access log entry and starts the request's span. It returns
// r with the span in its context when tracing is on.
func (g *Gateway) observeStart(r *http.Request, c *call) *http.Request {
	c.obs.started = true
	metrics.RequestStarted()
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.Object("xjp", (*accessLogFields)(c))) // marshalled when the access log is written: at the end
	}
	return g.startRequestSpan(r, c)
}

// observeEnd counts the finished request and ends its span.
func (g *Gateway) observeEnd(c *call) {
	if !c.obs.started {
		return
	}
	c.obs.started = false
	metrics.RequestEnded()
	u, status := c.chargedUsage(), c.status()
	m := metrics.Request{
		Provider:         c.route.Provider,
		Tenant:           g.tenantLabel(c),
		Status:           status,
		Duration:         c.duration(),
		TTFT:             c.ttft,
		PromptTokens:     u.InputTokens,
		CompletionTokens: u.OutputTokens,
		CachedTokens:     u.CachedInput,
	}
	m.Overhead = m.Duration - c.upstreamWait
	if c.model != nil {
		m.Model = c.model.Name
	}
	if c.req != nil {
		m.Stream = c.req.Stream
	}
	metrics.ObserveRequest(&m)
	c.endRequestSpan(status, u)
}

// tenantLabel is the tenant label of the request's series: empty when
// the tenant label is off or the caller is unknown.
func (g *Gateway) tenantLabel(c *call) string {
	if (g.Metrics != nil && g.Metrics.NoTenantLabel) || c.key == nil {
		return ""
	}
	return c.key.Tenant
}

// observeAttempt counts one upstream call.
func (c *call) observeAttempt(try int, err error) {
	model := ""
	if c.model != nil {
		model = c.model.Name
	}
	metrics.ObserveAttempt(model, c.route.Provider, try, c.fallback, err == nil)
}

// observeRejection counts a request refused by its key's rate limit or
// quota.
func (g *Gateway) observeRejection(c *call, e *unified.Error) {
	switch e.Kind {
	case unified.KindRateLimit:
		metrics.RateLimited(g.tenantLabel(c))
	case unified.KindQuota:
		metrics.QuotaRejected(g.tenantLabel(c))
	}
}

// noteResponse keeps what the trace reports of an answer: the model that
// answered, as the provider named it, and why it stopped.
func (c *call) noteResponse(model string, finish unified.FinishReason) {
	if model != "" {
		c.obs.responseModel = model
	}
	if finish != "" {
		c.obs.finish = finish
	}
}

// noteEvent is noteResponse for a stream's events.
func (c *call) noteEvent(ev *unified.Event) {
	switch ev.Type {
	case unified.EventStart:
		c.noteResponse(ev.Name, "")
	case unified.EventFinish:
		c.noteResponse("", ev.Finish)
	}
}

// accessLogFields writes the gateway's part of Caddy's access log entry,
// under "xjp". Nothing secret: the key id is already the entry's user_id,
// and the key never appears.
type accessLogFields call

func (f *accessLogFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	c := (*call)(f)
	enc.AddString("request_id", c.id)
	enc.AddString("dialect", c.dialect.Name())
	if c.key != nil {
		enc.AddString("tenant", c.key.Tenant)
	}
	if c.req != nil {
		enc.AddString("model", c.req.Model)
		enc.AddBool("stream", c.req.Stream)
	}
	if c.route.Provider != "" {
		enc.AddString("provider", c.route.Provider)
		enc.AddString("upstream_model", c.route.Model)
	}
	enc.AddInt("attempts", c.attempts)
	enc.AddBool("fallback", c.fallback)
	u := c.chargedUsage()
	enc.AddInt("input_tokens", u.InputTokens)
	enc.AddInt("output_tokens", u.OutputTokens)
	if u.CachedInput > 0 {
		enc.AddInt("cached_tokens", u.CachedInput)
	}
	if c.ttft > 0 {
		enc.AddFloat64("ttft", c.ttft.Seconds())
	}
	enc.AddFloat64("upstream_duration", c.upstreamWait.Seconds())
	return nil
}

// timingPlaceholder serves the placeholders of cache use and timings,
// known once the request is recorded.
func (c *call) timingPlaceholder(name string) (any, bool) {
	if !c.recorded {
		return nil, false
	}
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
	}
	switch name {
	case phCachedTokens:
		return strconv.Itoa(c.charged.CachedInput), true
	case phTTFT:
		if c.ttft > 0 {
			return ms(c.ttft), true
		}
	case phUpstreamMs:
		return ms(c.upstreamWait), true
	case phGatewayMs:
		return ms(c.elapsed - c.upstreamWait), true
	}
	return nil, false
}

// setServerTiming says how long the gateway and the providers took until
// now (the answer's start), in a Server-Timing header browsers and tools
// display.
func setServerTiming(h http.Header, c *call) {
	total := time.Since(c.start)
	b := make([]byte, 0, 64)
	b = append(b, "gateway;dur="...)
	b = strconv.AppendFloat(b, float64(total-c.upstreamWait)/float64(time.Millisecond), 'f', 3, 64)
	b = append(b, ", upstream;dur="...)
	b = strconv.AppendFloat(b, float64(c.upstreamWait)/float64(time.Millisecond), 'f', 3, 64)
	h.Set("Server-Timing", string(b))
}
