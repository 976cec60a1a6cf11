package xjpgateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	anthropicin "github.com/xiaojinpro/xjp-gateway/handlers/anthropic"
	"github.com/xiaojinpro/xjp-gateway/ratelimit"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Cluster mode: with rate_limit { store redis ... }, every gateway
// instance that uses the same Redis and prefix shares each key's
// budgets. One script per request decides requests per minute, tokens
// per minute and the daily quota together, and reserves the request's
// estimated tokens; when the request ends, reconcile corrects the
// reservation with what it really used. PostgreSQL stays the durable
// ledger (usage/): it seeds the shared quota counter and is written in
// batches as before.

// clusterLimits is the provisioned shared store.
type clusterLimits struct {
	store    *ratelimit.Redis
	failOpen bool
	release  func() error
}

// reservation is what an admitted request's estimate charged, to be
// corrected when the request ends.
type reservation struct {
	tokens int   // the estimate charged
	tpm    int   // the tokens-per-minute budget charged; 0 when none
	quota  bool  // the estimate was charged to the daily quota
	day    int64 // the quota's day (shared store)
	shared bool  // charged in the shared store rather than in process
}

// provisionCluster acquires the shared store's Redis client (shared
// across reloads) and registers the store's metrics. It does no network
// I/O.
func (g *Gateway) provisionCluster(ctx caddy.Context) error {
	if g.RateLimit == nil || g.RateLimit.Store == nil {
		return nil
	}
	s := g.RateLimit.Store
	if s.Type != "redis" {
		return fmt.Errorf("rate_limit: unknown store %q: want redis (or no store for the in-process limiter)", s.Type)
	}
	var failOpen bool
	switch s.OnFailure {
	case "", "open":
		failOpen = true
	case "closed":
	default:
		return fmt.Errorf("rate_limit store: on_failure must be open or closed, not %q", s.OnFailure)
	}
	if s.Timeout < 0 {
		return fmt.Errorf("rate_limit store: timeout must not be negative")
	}
	url, err := redisURL(s.URL, "rate_limit store")
	if err != nil {
		return err
	}
	if err := ratelimit.RegisterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	client, release, err := ratelimit.AcquireRedis(url)
	if err != nil {
		return fmt.Errorf("rate_limit store: %w", err)
	}
	logger := g.logger
	g.cluster = &clusterLimits{
		store: ratelimit.NewRedis(client, ratelimit.RedisConfig{
			Prefix:  orDefault(s.Prefix, defaultRateLimitPrefix),
			Timeout: time.Duration(s.Timeout),
			Logger:  func() *zap.Logger { return logger },
		}),
		failOpen: failOpen,
		release:  release,
	}
	return nil
}

func (g *Gateway) releaseCluster() error {
	if g.cluster == nil || g.cluster.release == nil {
		return nil
	}
	return g.cluster.release()
}

// tpmFor returns the caller's tokens per minute: its key's own, or the
// default; 0 when unlimited.
func (g *Gateway) tpmFor(c *call) int {
	if g.limiters == nil {
		return 0
	}
	if c.key != nil && c.key.RateLimitTPM > 0 {
		return c.key.RateLimitTPM
	}
	if g.RateLimit == nil {
		return 0
	}
	return g.RateLimit.DefaultTPM
}

// estimateTokens is what a request is charged when admitted: its prompt
// and the most it may answer; nothing for a request that only counts
// tokens (Anthropic's count_tokens), which uses none.
func (g *Gateway) estimateTokens(c *call) int {
	if d, ok := c.dialect.(anthropicin.Dialect); ok && d.CountTokens {
		return 0
	}
	req := c.req
	out := defaultEstimateOutput
	switch {
	case req.MaxTokens != nil && *req.MaxTokens > 0:
		out = *req.MaxTokens
	case g.Limits != nil && g.Limits.MaxOutputTokens > 0:
		out = g.Limits.MaxOutputTokens
	case g.RateLimit != nil && g.RateLimit.EstimateOutput > 0:
		out = g.RateLimit.EstimateOutput
	}
	return req.EstimateInputTokens() + out
}

// admitTokens decides what needs the decoded request: its tokens per
// minute and, with a shared store, all of the key's limits at once.
func (g *Gateway) admitTokens(r *http.Request, c *call) *unified.Error {
	rpm, burst := g.rateFor(c)
	tpm := g.tpmFor(c)
	var quota int64
	if g.accounts != nil {
		quota = c.key.QuotaTokensDaily
	}
	if g.cluster == nil {
		if tpm <= 0 {
			return nil
		}
		return g.admitTokensLocally(c, tpm, g.estimateTokens(c))
	}
	if rpm <= 0 && tpm <= 0 && quota <= 0 {
		return nil
	}
	est := g.estimateTokens(c)
	var seed int64
	if quota > 0 {
		// What the durable ledger knows (from memory, but for a key's
		// first request): the shared counter never counts less, so a
		// Redis that lost its data cannot hand out a spent quota again.
		seed, _ = g.accounts.TokensToday(r.Context(), c.key.ID)
	}
	a, err := g.cluster.store.Admit(r.Context(), c.key.ID, ratelimit.Request{
		RPM: rpm, Burst: burst, TPM: tpm, Tokens: est, Quota: quota, Seed: seed,
	})
	if err != nil {
		if !g.cluster.failOpen {
			return &unified.Error{Kind: unified.KindUnavailable, Retryable: true,
				Message: "the gateway cannot check this API key's rate limits right now; try again shortly"}
		}
		// Fail open: this instance's own limits, until Redis is back.
		if e := g.enforceLocalLimits(r, c); e != nil {
			return e
		}
		if tpm <= 0 {
			return nil
		}
		return g.admitTokensLocally(c, tpm, est)
	}
	if rpm > 0 || tpm > 0 {
		c.rate = &a.Decision
	}
	switch a.Refused {
	case "":
		c.reservation = &reservation{tokens: est, tpm: tpm, quota: quota > 0, day: a.Day, shared: true}
		return nil
	case ratelimit.RefusedRequests:
		return requestLimitError(rpm, a.RetryAfter)
	case ratelimit.RefusedTokens:
		return tokenLimitError(tpm, est, a.RetryAfter)
	default:
		return quotaError(quota, est, a.QuotaUsed, a.RetryAfter)
	}
}

func quotaError(quota int64, est int, used int64, retry time.Duration) *unified.Error {
	msg := fmt.Sprintf("This API key has used its daily quota of %d tokens; it renews at 00:00 UTC.", quota)
	if used < quota {
		msg = fmt.Sprintf("This request may use up to %d tokens, more than the %d left of this API key's daily quota of %d tokens (the rest is used or reserved by requests in flight); it renews at 00:00 UTC. A smaller max_tokens may fit.",
			est, quota-used, quota)
	}
	return &unified.Error{Kind: unified.KindQuota, Code: "insufficient_quota", RetryAfter: retry, Message: msg}
}

// admitTokensLocally charges the request's estimate to the key's
// in-process tokens-per-minute budget.
func (g *Gateway) admitTokensLocally(c *call, tpm, est int) *unified.Error {
	d := g.limiters.AdmitTokens(c.key.ID, tpm, est, time.Now())
	if c.rate == nil {
		c.rate = &ratelimit.Decision{Allowed: true}
	}
	c.rate.Tokens = ratelimit.TokenState{Limit: tpm, Remaining: d.Remaining, Reset: d.Reset}
	if !d.Allowed {
		c.rate.Allowed, c.rate.RetryAfter = false, d.RetryAfter
		return tokenLimitError(tpm, est, d.RetryAfter)
	}
	c.reservation = &reservation{tokens: est, tpm: tpm}
	return nil
}

func requestLimitError(rpm int, retry time.Duration) *unified.Error {
	return &unified.Error{Kind: unified.KindRateLimit, Code: "rate_limit_exceeded", RetryAfter: retry,
		Message: fmt.Sprintf("Rate limit reached: this API key may send %d requests per minute. Try again in %s.",
			rpm, ratelimit.FormatReset(retry))}
}

func tokenLimitError(tpm, est int, retry time.Duration) *unified.Error {
	return &unified.Error{Kind: unified.KindRateLimit, Code: "rate_limit_exceeded", RetryAfter: retry,
		Message: fmt.Sprintf("Rate limit reached: this API key may use %d tokens per minute, and this request may use up to %d. Try again in %s.",
			tpm, est, ratelimit.FormatReset(retry))}
}

// reconcile corrects the request's reservation with what it used (what
// its usage row is charged): unused tokens go back to the budgets, extra
// ones are charged.
func (g *Gateway) reconcile(c *call) {
	res := c.reservation
	if res == nil {
		return
	}
	c.reservation = nil
	u := c.chargedUsage()
	delta := u.InputTokens + u.OutputTokens - res.tokens
	if !res.shared {
		g.limiters.SettleTokens(c.key.ID, res.tpm, delta, time.Now())
		return
	}
	// The client may be gone: the correction is due all the same. A
	// failure is counted and logged by the store; the reservation then
	// stands (until the minute, or the day, ends).
	ctx := context.Background()
	if c.ctx != nil {
		ctx = context.WithoutCancel(c.ctx)
	}
	_ = g.cluster.store.Settle(ctx, c.key.ID, res.tpm, res.quota, res.day, delta)
}

// redisURL resolves the placeholders of a Redis store's url (for what, in
// errors) at provisioning; empty is an error, as an unset {env.X} gives.
func redisURL(raw, what string) (string, error) {
	url := strings.TrimSpace(caddy.NewReplacer().ReplaceAll(raw, ""))
	if url == "" {
		return "", fmt.Errorf("%s: redis needs a url (is its environment variable set?)", what)
	}
	return url, nil
}
