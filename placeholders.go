package xjpgateway

import (
	"strconv"
	"strings"
)

// Placeholder names, documented on Gateway.
const (
	phPrefix        = "http.xjp_gateway."
	phRequestID     = "request_id"
	phDialect       = "dialect"
	phTenant        = "tenant"
	phKeyID         = "key_id"
	phModel         = "model"
	phProvider      = "provider"
	phUpstreamModel = "upstream_model"
	phInputTokens   = "input_tokens"
	phOutputTokens  = "output_tokens"
	phAttempts      = "attempts"
	phFallback      = "fallback"
	// Timings and cache use (observe.go).
	phCachedTokens = "cached_tokens"
	phTTFT         = "ttft_ms"
	phUpstreamMs   = "upstream_ms"
	phGatewayMs    = "gateway_ms"
)

// placeholder serves {http.xjp_gateway.*} from the call's state when a
// placeholder is read, rather than storing every value in the replacer as
// the request goes: most requests never read them, and the access log and
// deferred header lines read them after the fact. A value is unknown until
// the pipeline reaches the step that decides it.
func (c *call) placeholder(key string) (any, bool) {
	name, ok := strings.CutPrefix(key, phPrefix)
	if !ok {
		return nil, false
	}
	switch name {
	case phRequestID:
		return c.id, true
	case phDialect:
		return c.dialect.Name(), true
	case phTenant:
		if c.key != nil {
			return c.key.Tenant, true
		}
	case phKeyID:
		if c.key != nil {
			return c.key.ID, true
		}
	case phModel:
		if c.req != nil {
			return c.req.Model, true
		}
	case phProvider:
		if c.published && c.route.Provider != "" {
			return c.route.Provider, true
		}
	case phUpstreamModel:
		if c.published && c.route.Provider != "" {
			return c.route.Model, true
		}
	case phAttempts:
		if c.published {
			return strconv.Itoa(c.attempts), true
		}
	case phFallback:
		if c.published {
			return strconv.FormatBool(c.fallback), true
		}
	case phInputTokens:
		if c.recorded {
			return strconv.Itoa(c.charged.InputTokens), true
		}
	case phOutputTokens:
		if c.recorded {
			return strconv.Itoa(c.charged.OutputTokens), true
		}
	case phCachedTokens, phTTFT, phUpstreamMs, phGatewayMs:
		return c.timingPlaceholder(name)
	}
	return nil, false
}

// publishRoute makes the route placeholders show the route that serves:
// when the answer starts, when the request fails, or at the latest when it
// is recorded. Until then a retry or fallback may still change it.
func (c *call) publishRoute() { c.published = true }
