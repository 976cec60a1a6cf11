package xjpgateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"

	"github.com/xiaojinpro/xjp-gateway/auth"
	anthropicin "github.com/xiaojinpro/xjp-gateway/handlers/anthropic"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/internal/redistest"
	"github.com/xiaojinpro/xjp-gateway/ratelimit"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// clusterGateway is a gateway instance whose limits live in Redis under
// prefix; gateways built with the same prefix are one cluster.
func clusterGateway(client redis.UniversalClient, prefix string, rl *RateLimit, acc *fakeAccounts, failOpen bool) *Gateway {
	g := testGateway(rl, acc)
	if acc == nil {
		g.accounts = nil
	}
	g.Limits = &Limits{}
	g.cluster = &clusterLimits{
		store:    ratelimit.NewRedis(client, ratelimit.RedisConfig{Prefix: prefix, Timeout: 2 * time.Second, Backoff: 20 * time.Millisecond}),
		failOpen: failOpen,
	}
	return g
}

func chatRequest(maxTokens int) *unified.Request {
	req := &unified.Request{Model: "m",
		Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("12345678")}}}}
	if maxTokens > 0 {
		req.MaxTokens = &maxTokens
	}
	return req // its prompt is estimated at 4 + 2 tokens
}

// admitCall runs the admission steps of the pipeline for one request.
func admitCall(g *Gateway, key *auth.Key, req *unified.Request) (*call, *unified.Error) {
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	c := &call{key: key, dialect: openaiin.Dialect{}, req: req, ctx: context.Background()}
	if err := g.enforceLimits(r, c); err != nil {
		return c, err
	}
	return c, g.admitTokens(r, c)
}

func TestEstimateTokens(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxTokens int
		limit     int
		rl        *RateLimit
		want      int
	}{
		{"max_tokens", 100, 50, &RateLimit{EstimateOutput: 10}, 106},
		{"the output limit", 0, 50, &RateLimit{EstimateOutput: 10}, 56},
		{"estimate_output", 0, 0, &RateLimit{EstimateOutput: 10}, 16},
		{"the default", 0, 0, nil, 6 + defaultEstimateOutput},
	} {
		g := &Gateway{RateLimit: tc.rl, Limits: &Limits{MaxOutputTokens: tc.limit}}
		if got := g.estimateTokens(&call{dialect: openaiin.Dialect{}, req: chatRequest(tc.maxTokens)}); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	g := &Gateway{Limits: &Limits{}}
	if got := g.estimateTokens(&call{dialect: anthropicin.Dialect{CountTokens: true}, req: chatRequest(100)}); got != 0 {
		t.Errorf("count_tokens is charged %d tokens", got)
	}
}

// Two instances share one key's requests, tokens and quota; a finished
// request's unused reservation comes back to both.
func TestClusterSharesBudgets(t *testing.T) {
	client, prefix := redistest.Client(t)
	rl := &RateLimit{DefaultRPM: 1, Burst: 3, DefaultTPM: 100000}
	a := clusterGateway(client, prefix, rl, &fakeAccounts{}, true)
	b := clusterGateway(client, prefix, rl, &fakeAccounts{}, true)
	key := &auth.Key{ID: "0f8fad5b-d9cb-469f-a165-70867728950e", QuotaTokensDaily: 250}

	c1, err := admitCall(a, key, chatRequest(100)) // reserves 106
	if err != nil || c1.reservation == nil || !c1.reservation.shared || c1.rate.Remaining != 2 {
		t.Fatalf("first: %v, %+v", err, c1.rate)
	}
	if _, err := admitCall(b, key, chatRequest(100)); err != nil { // 212 reserved
		t.Fatalf("second, on the other instance: %v", err)
	}
	c3, err := admitCall(a, key, chatRequest(100)) // 318 > 250
	if err == nil || err.Kind != unified.KindQuota || err.Code != "insufficient_quota" || err.RetryAfter <= 0 {
		t.Fatalf("third: %+v", err)
	}
	if c3.rate == nil || c3.rate.Remaining != 1 || c3.rate.Tokens.Limit != 100000 {
		t.Errorf("a refusal by the quota charged the request budget: %+v", c3.rate)
	}
	// The first request used 10 tokens: 96 of its reservation come back.
	c1.usage = unified.Usage{InputTokens: 6, OutputTokens: 4}
	a.reconcile(c1)
	if c1.reservation != nil {
		t.Error("reconciled twice")
	}
	if _, err := admitCall(b, key, chatRequest(100)); err != nil { // 10 + 106 + 106 = 222
		t.Fatalf("after the refund: %v", err)
	}
	// Three requests admitted: the burst is spent on both instances.
	_, err = admitCall(a, &auth.Key{ID: key.ID}, chatRequest(1))
	if err == nil || err.Kind != unified.KindRateLimit || err.RetryAfter <= 0 {
		t.Fatalf("fourth request: %+v", err)
	}
}

// A stream that broke is reconciled with what it produced, like its
// usage row.
func TestClusterReconcilesBrokenStream(t *testing.T) {
	client, prefix := redistest.Client(t)
	g := clusterGateway(client, prefix, nil, &fakeAccounts{}, true)
	key := &auth.Key{ID: "0f8fad5b-d9cb-469f-a165-70867728950e", QuotaTokensDaily: 1000}
	req := chatRequest(900)
	req.Stream = true
	c, err := admitCall(g, key, req) // reserves 906
	if err != nil {
		t.Fatal(err)
	}
	c.produced = 400 // 100 tokens of answer, then the stream broke
	c.err = &unified.Error{Kind: unified.KindUpstream}
	g.reconcile(c) // charged 6 + 100
	// 106 + 894 fills the quota exactly.
	if _, err := admitCall(g, key, chatRequest(888)); err != nil {
		t.Fatalf("the unused reservation did not come back: %v", err)
	}
	if _, err := admitCall(g, key, chatRequest(1)); err == nil || err.Kind != unified.KindQuota {
		t.Fatalf("quota spent exactly, yet: %v", err)
	}
}

// With on_failure closed, an unreachable Redis refuses requests with
// 503; with open, this instance's own limits apply. Both recover when
// Redis is back.
func TestClusterFailurePolicy(t *testing.T) {
	for _, open := range []bool{false, true} {
		name := map[bool]string{false: "closed", true: "open"}[open]
		t.Run(name, func(t *testing.T) {
			proxy, url := redistest.Proxy(t)
			client, release, aerr := ratelimit.AcquireRedis(url)
			if aerr != nil {
				t.Fatal(aerr)
			}
			defer release()
			_, prefix := redistest.Client(t)
			g := clusterGateway(client, prefix, &RateLimit{DefaultRPM: 1, Burst: 2}, nil, open)
			key := &auth.Key{ID: "policy-" + name}
			if _, err := admitCall(g, key, chatRequest(1)); err != nil {
				t.Fatal(err)
			}

			proxy.Stop()
			c, err := admitCall(g, key, chatRequest(1))
			if !open {
				if err == nil || err.Kind != unified.KindUnavailable || err.Status() != 503 {
					t.Fatalf("closed, Redis down: %+v", err)
				}
			} else {
				// The local limiter has its own burst of 2.
				if err != nil || c.reservation != nil {
					t.Fatalf("open, Redis down: %v (reservation %+v)", err, c.reservation)
				}
				admitCall(g, key, chatRequest(1))
				if _, err := admitCall(g, key, chatRequest(1)); err == nil || err.Kind != unified.KindRateLimit {
					t.Fatalf("open, Redis down: the local limit did not apply: %v", err)
				}
			}

			proxy.Start()
			deadline := time.Now().Add(30 * time.Second) // a hang guard
			for {
				c, err := admitCall(g, key, chatRequest(1))
				if err == nil && c.reservation != nil && c.reservation.shared {
					break // Redis decided again: the second of its burst of 2
				}
				if time.Now().After(deadline) {
					t.Fatalf("Redis is back, still: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if _, err := admitCall(g, key, chatRequest(1)); err == nil || err.Kind != unified.KindRateLimit {
				t.Fatalf("after recovery, Redis's state was not used: %v", err)
			}
		})
	}
}

// Without a shared store, tokens per minute are limited in process and
// reconciled the same way.
func TestLocalTokensPerMinute(t *testing.T) {
	g := testGateway(&RateLimit{DefaultTPM: 200}, nil)
	g.Limits = &Limits{}
	key := &auth.Key{ID: "local-tpm"}
	c, err := admitCall(g, key, chatRequest(150)) // 156
	if err != nil || c.rate == nil || c.rate.Tokens.Remaining != 44 || c.rate.Limit != 0 {
		t.Fatalf("first: %v %+v", err, c.rate)
	}
	if _, err := admitCall(g, key, chatRequest(50)); err == nil || err.Kind != unified.KindRateLimit {
		t.Fatalf("second (56 > 44 left): %v", err)
	}
	c.usage = unified.Usage{InputTokens: 6, OutputTokens: 10}
	g.reconcile(c) // 140 back
	if _, err := admitCall(g, key, chatRequest(50)); err != nil {
		t.Fatalf("after the refund: %v", err)
	}
	w := httptest.NewRecorder()
	g.setLimitHeaders(w, c, nil)
	if w.Header().Get("X-Ratelimit-Limit-Tokens") != "200" || w.Header().Get("X-Ratelimit-Limit-Requests") != "" {
		t.Errorf("headers %v", w.Header())
	}
}

// A key's own tokens per minute override the default, with or without a
// rate_limit block.
func TestKeyTokensPerMinute(t *testing.T) {
	for _, rl := range []*RateLimit{nil, {DefaultTPM: 1000000}} {
		g := testGateway(rl, nil)
		g.Limits = &Limits{}
		key := &auth.Key{ID: "own-tpm", RateLimitTPM: 200}
		c, err := admitCall(g, key, chatRequest(150)) // 156
		if err != nil || c.rate == nil || c.rate.Tokens.Limit != 200 || c.rate.Tokens.Remaining != 44 {
			t.Fatalf("rate_limit %+v: first: %v %+v", rl, err, c.rate)
		}
		if _, err := admitCall(g, key, chatRequest(50)); err == nil || err.Kind != unified.KindRateLimit {
			t.Fatalf("rate_limit %+v: second (56 > 44 left): %v", rl, err)
		}
	}
}

// provisionCluster resolves the url's placeholders, validates the
// options, shares the Redis client across configurations (a reload) and
// registers the failure counter in Caddy's registry.
func TestProvisionCluster(t *testing.T) {
	t.Setenv("XJP_TEST_RL_REDIS", "redis://127.0.0.1:1/0") // nothing listens there
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	provision := func(store *RateLimitStore) (*Gateway, error) {
		g := testGateway(&RateLimit{DefaultRPM: 10, Store: store}, nil)
		return g, g.provisionCluster(ctx)
	}
	for _, bad := range []*RateLimitStore{
		{Type: "memcached", URL: "x"},
		{Type: "redis"},
		{Type: "redis", URL: "{env.XJP_TEST_UNSET_VARIABLE}"},
		{Type: "redis", URL: "redis://x", OnFailure: "maybe"},
		{Type: "redis", URL: "redis://x", Timeout: -1},
	} {
		if _, err := provision(bad); err == nil {
			t.Errorf("%+v: provisioned", bad)
		}
	}

	store := &RateLimitStore{Type: "redis", URL: "{env.XJP_TEST_RL_REDIS}", OnFailure: "closed"}
	a, err := provision(store)
	if err != nil {
		t.Fatal(err)
	}
	b, err := provision(store) // the next configuration of a reload
	if err != nil {
		t.Fatal(err)
	}
	if a.cluster.failOpen || a.cluster.store == nil {
		t.Errorf("cluster %+v", a.cluster)
	}
	if _, err := admitCall(b, &auth.Key{ID: "provisioned"}, chatRequest(1)); err == nil || err.Kind != unified.KindUnavailable {
		t.Errorf("with Redis unreachable and on_failure closed: %v", err)
	}
	families, gerr := ctx.GetMetricsRegistry().Gather()
	if gerr != nil {
		t.Fatal(gerr)
	}
	found := false
	for _, f := range families {
		found = found || f.GetName() == "xjp_ratelimit_store_failures_total"
	}
	if !found {
		t.Error("xjp_ratelimit_store_failures_total is not in Caddy's metrics registry")
	}
	if err := errors.Join(a.releaseCluster(), b.releaseCluster()); err != nil {
		t.Fatal(err)
	}
}
