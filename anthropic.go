package xjpgateway

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	anthropicin "github.com/xiaojinpro/xjp-gateway/handlers/anthropic"
	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// The Anthropic endpoints that do not run a chat: count_tokens and the
// Anthropic shape of the model list.

// anthropicDialect is the Anthropic dialect for one request, carrying its
// anthropic-beta flags (several headers are joined, as the API allows).
// A missing anthropic-version is accepted: it has only one value.
func anthropicDialect(r *http.Request, countTokens bool) anthropicin.Dialect {
	return anthropicin.Dialect{Beta: strings.Join(r.Header.Values("Anthropic-Beta"), ","), CountTokens: countTokens}
}

// isAnthropicClient reports whether the request comes from an Anthropic
// SDK, which always sends anthropic-version.
func isAnthropicClient(r *http.Request) bool { return r.Header.Get("Anthropic-Version") != "" }

// serveCountTokens answers POST /v1/messages/count_tokens. The count is
// exact when a route of the model leads to a provider that counts (an
// Anthropic-native one); otherwise it is the gateway's estimate, and the
// X-Xjp-Token-Count header says which.
func (g *Gateway) serveCountTokens(w http.ResponseWriter, r *http.Request) {
	c := newCall(w, r, anthropicDialect(r, true))
	defer g.record(c)
	if err := g.admitWithHeaders(w, r, c); err != nil {
		g.fail(w, c, err)
		return
	}
	n, exact, err := g.countTokens(r, c)
	if err != nil {
		g.fail(w, c, err)
		return
	}
	if exact {
		g.setRouteHeaders(w, c)
		w.Header().Set("X-Xjp-Token-Count", "exact")
	} else {
		w.Header().Set("X-Xjp-Token-Count", "estimate")
	}
	anthropicin.WriteTokenCount(w, n)
}

// countTokens asks the model's routes that can count, in order; a
// provider failure moves on to the next one, and with none left the
// count is estimated.
func (g *Gateway) countTokens(r *http.Request, c *call) (n int, exact bool, _ *unified.Error) {
	for _, route := range c.model.Plan() {
		counter, ok := route.Connector.(connectors.TokenCounter)
		if !ok || route.Breaker.Open() {
			continue // an open breaker: the provider is failing, do not add to it
		}
		c.route = route
		c.attempts++
		up := upstreamRequest(c.req, route)
		t0 := time.Now()
		n, err := counter.CountTokens(r.Context(), &up)
		c.upstreamWait += time.Since(t0)
		if err == nil {
			return n, true, nil
		}
		if errors.Is(err, connectors.ErrNoTokenCount) {
			continue
		}
		e := unified.AsError(err)
		g.logAttemptFailure(c, e)
		if r.Context().Err() != nil || !resilience.MayFallBack(e) {
			return 0, false, e
		}
	}
	return c.req.EstimateInputTokens(), false, nil
}
