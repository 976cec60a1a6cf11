package xjpgateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/ratelimit"
	"github.com/xiaojinpro/xjp-gateway/unified"
	"github.com/xiaojinpro/xjp-gateway/usage"
)

// provisionAccounting acquires the rate limiters (and the shared store,
// cluster.go) and, when the key store keeps accounts (the postgres
// store), its usage ledger.
func (g *Gateway) provisionAccounting(ctx caddy.Context) error {
	if rl := g.RateLimit; rl != nil && (rl.DefaultRPM < 0 || rl.Burst < 0 || rl.DefaultTPM < 0 || rl.EstimateOutput < 0) {
		return fmt.Errorf("rate_limit: default_rpm, default_tpm, burst and estimate_output must not be negative")
	}
	reg, release, err := ratelimit.Acquire()
	if err != nil {
		return fmt.Errorf("rate limiters: %w", err)
	}
	g.limiters, g.releaseLimiters = reg, release
	if p, ok := g.keys.(usage.Provider); ok {
		g.accounts = p.Accountant()
	}
	return g.provisionCluster(ctx)
}

// releaseAccounting undoes provisionAccounting.
func (g *Gateway) releaseAccounting() error {
	err := g.releaseCluster()
	if g.releaseLimiters == nil {
		return err
	}
	return errors.Join(err, g.releaseLimiters())
}

// enforceLimits admits an authenticated request under its key's rate
// limit and daily token quota. From here on the request is accounted:
// record writes its usage row. With a shared store, the limits are
// decided once the request is decoded (admitTokens), in one call.
func (g *Gateway) enforceLimits(r *http.Request, c *call) *unified.Error {
	if g.accounts != nil {
		g.accounts.Begin()
		c.accounted = true
	}
	if g.cluster != nil {
		return nil
	}
	return g.enforceLocalLimits(r, c)
}

// enforceLocalLimits checks the key's rate limit in this process and its
// daily quota against the counts this instance knows.
func (g *Gateway) enforceLocalLimits(r *http.Request, c *call) *unified.Error {
	if rpm, burst := g.rateFor(c); rpm > 0 {
		d := g.limiters.Allow(c.key.ID, rpm, burst, time.Now())
		c.rate = &d
		if !d.Allowed {
			return requestLimitError(rpm, d.RetryAfter)
		}
	}
	if quota := c.key.QuotaTokensDaily; quota > 0 && g.accounts != nil {
		used, err := g.accounts.TokensToday(r.Context(), c.key.ID)
		if err != nil {
			g.quotaReadErrors.Error(g.logger, "reading a key's token count failed", zap.String("key_id", c.key.ID), zap.Error(err))
			return &unified.Error{Kind: unified.KindUnavailable,
				Message: "the gateway cannot check this API key's token quota right now; try again shortly"}
		}
		if used >= quota {
			now := time.Now().UTC()
			return quotaError(quota, 0, used, now.Truncate(24*time.Hour).Add(24*time.Hour).Sub(now))
		}
	}
	return nil
}

// rateFor returns the requests per minute and burst of the caller's key;
// 0 when it is unlimited.
func (g *Gateway) rateFor(c *call) (rpm, burst int) {
	rpm = c.key.RateLimitRPM
	if rpm <= 0 && g.RateLimit != nil {
		rpm = g.RateLimit.DefaultRPM
	}
	if rpm <= 0 || g.limiters == nil {
		return 0, 0
	}
	burst = rpm
	if g.RateLimit != nil && g.RateLimit.Burst > 0 {
		burst = g.RateLimit.Burst
	}
	return rpm, burst
}

// setLimitHeaders tells the client its rate-limit state, in the headers
// of its dialect, on every answer to a rate-limited key; an exhausted
// quota also says that retrying will not help.
func (g *Gateway) setLimitHeaders(w http.ResponseWriter, c *call, err *unified.Error) {
	if c.rate != nil {
		ratelimit.SetHeaders(w.Header(), c.dialect.Name(), *c.rate, time.Now())
	}
	if err != nil && err.Kind == unified.KindQuota {
		w.Header().Set("X-Should-Retry", "false")
	}
}

// meteredStream notes, for the usage row, when the first token arrives
// and how much text the answer has produced (what a stream that breaks
// before its usage report is charged for).
type meteredStream struct {
	unified.Stream
	c *call
}

func meter(c *call, s unified.Stream) unified.Stream { return &meteredStream{Stream: s, c: c} }

// Pending implements unified.Pender.
func (m *meteredStream) Pending() bool { return unified.Pending(m.Stream) }

func (m *meteredStream) Next() (unified.Event, error) {
	ev, err := m.Stream.Next()
	if errors.Is(err, io.EOF) {
		m.c.upstreamEnded = true
	}
	if err == nil {
		switch ev.Type {
		case unified.EventText, unified.EventReasoning, unified.EventToolCallStart, unified.EventToolCallDelta:
			n := len(ev.Text) + len(ev.Name)
			if m.c.ttft == 0 && n > 0 {
				m.c.ttft = time.Since(m.c.start)
			}
			m.c.produced += n
		}
	}
	return ev, err
}

// chargedUsage is what the request is charged for: the provider's
// count, or, for a stream that ended without a usage report (it broke,
// or the client left), what it produced.
func (c *call) chargedUsage() unified.Usage {
	if c.recorded {
		return c.charged
	}
	u := c.usage
	if c.produced > 0 {
		if u.OutputTokens == 0 {
			u.OutputTokens = (c.produced + 3) / 4 // unified.EstimateTokens of the text
		}
		if u.InputTokens == 0 && c.req != nil {
			u.InputTokens = c.req.EstimateInputTokens()
		}
	}
	return u
}

// duration is how long the request took: until it was recorded, or, for
// a request still running, until now.
func (c *call) duration() time.Duration {
	if c.recorded {
		return c.elapsed
	}
	return time.Since(c.start)
}

// statusClientClosed is the status recorded for a request whose client
// went away before the answer was complete (nginx's convention).
const statusClientClosed = 499

// account hands the request's usage row to the ledger, which charges its
// tokens to the key's daily count.
func (g *Gateway) account(c *call) {
	g.reconcile(c)
	if !c.accounted {
		return
	}
	u, status := c.chargedUsage(), c.status()
	rec := &usage.Record{
		Time:             c.start,
		RequestID:        c.id,
		Tenant:           c.key.Tenant,
		KeyID:            c.key.ID,
		Provider:         c.route.Provider,
		UpstreamModel:    c.route.Model,
		Dialect:          c.dialect.Name(),
		Status:           status,
		PromptTokens:     u.InputTokens,
		CompletionTokens: u.OutputTokens,
		CachedTokens:     u.CachedInput,
		Latency:          c.duration(),
		TTFT:             c.ttft,
		Attempts:         c.attempts,
	}
	if c.req != nil {
		rec.Model = c.req.Model
	}
	g.accounts.Record(rec)
}
