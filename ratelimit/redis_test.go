package ratelimit

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/xiaojinpro/xjp-gateway/internal/redistest"
)

// newTestRedis returns a limiter on the test server, under a prefix of
// the test's own, whose clock is the returned one (ms) rather than
// Redis's.
func newTestRedis(t *testing.T) (*Redis, *int64) {
	t.Helper()
	client, prefix := redistest.Client(t)
	r := NewRedis(client, RedisConfig{Prefix: prefix, Timeout: 5 * time.Second})
	now := t0.UnixMilli()
	r.clock = func() int64 { return now }
	return r, &now
}

// The request budget behaves as the in-process limiter's does.
func TestRedisRequestsMatchLocal(t *testing.T) {
	r, now := newTestRedis(t)
	local := &Registry{}
	for i, at := range []time.Duration{0, 0, 0, 500 * time.Millisecond, time.Second, 5 * time.Second} {
		*now = t0.Add(at).UnixMilli()
		a, err := r.Admit(context.Background(), "k", Request{RPM: 60, Burst: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := local.Allow("k", 60, 2, t0.Add(at))
		if a.Decision != want {
			t.Errorf("step %d at +%v: redis %+v, local %+v", i, at, a.Decision, want)
		}
		if a.Allowed == (a.Refused != "") || (!a.Allowed && a.Refused != RefusedRequests) {
			t.Errorf("step %d: allowed %v refused %q", i, a.Allowed, a.Refused)
		}
	}
}

// The token budget behaves as the in-process one does: estimates at
// admission, corrections at settlement, debt waited out.
func TestRedisTokensMatchLocal(t *testing.T) {
	r, now := newTestRedis(t)
	local := &Registry{}
	ctx := context.Background()
	type step struct {
		at     time.Duration
		tokens int // admit this estimate; 0: settle delta instead
		delta  int
	}
	for i, s := range []step{
		{0, 400, 0},
		{0, 500, 0},
		{0, 200, 0},                     // 100 left: refused
		{0, 0, -300},                    // the second used 300 less than estimated
		{0, 200, 0},                     // now it fits
		{0, 0, +1000},                   // and one used far more: debt
		{30 * time.Second, 10, 0},       // half a minute refills 500: still in debt
		{90 * time.Second, 1000, 0},     // whole again
		{91 * time.Second, 5000, 0},     // larger than the budget: charged as the whole budget
		{92 * time.Second, 1, 0},        // nothing left
		{time.Hour, 0, -5000},           // a refund never leaves more than a whole budget
		{time.Hour, 1000, 0},            // whole
		{time.Hour + time.Second, 1, 0}, // and spent
	} {
		at := t0.Add(s.at)
		*now = at.UnixMilli()
		if s.tokens == 0 {
			if err := r.Settle(ctx, "k", 1000, false, 0, s.delta); err != nil {
				t.Fatal(err)
			}
			local.SettleTokens("k", 1000, s.delta, at)
			continue
		}
		a, err := r.Admit(ctx, "k", Request{TPM: 1000, Tokens: s.tokens})
		if err != nil {
			t.Fatal(err)
		}
		want := local.AdmitTokens("k", 1000, s.tokens, at)
		got := TokenDecision{Allowed: a.Allowed, Remaining: a.Tokens.Remaining, Reset: a.Tokens.Reset, RetryAfter: a.RetryAfter}
		if got != want {
			t.Errorf("step %d (%+v): redis %+v, local %+v", i, s, got, want)
		}
		if !a.Allowed && a.Refused != RefusedTokens {
			t.Errorf("step %d: refused by %q", i, a.Refused)
		}
	}
}

// A refused request charges no budget: the three are decided together.
func TestRedisRefusalChargesNothing(t *testing.T) {
	r, _ := newTestRedis(t)
	ctx := context.Background()
	q := Request{RPM: 60, Burst: 5, TPM: 1000, Tokens: 600, Quota: 10000}
	if a, err := r.Admit(ctx, "k", q); err != nil || !a.Allowed {
		t.Fatalf("first: %+v, %v", a, err)
	}
	a, err := r.Admit(ctx, "k", q) // 400 tokens left this minute
	if err != nil || a.Allowed || a.Refused != RefusedTokens {
		t.Fatalf("second: %+v, %v", a, err)
	}
	if a.Remaining != 4 || a.QuotaUsed != 600 {
		t.Errorf("the refusal charged the other budgets: %d requests left, quota used %d", a.Remaining, a.QuotaUsed)
	}
	q.Tokens = 400
	if a, err := r.Admit(ctx, "k", q); err != nil || !a.Allowed || a.Remaining != 3 || a.QuotaUsed != 1000 {
		t.Errorf("third: %+v, %v", a, err)
	}
}

func TestRedisQuota(t *testing.T) {
	r, now := newTestRedis(t)
	ctx := context.Background()
	admit := func(tokens int, seed int64) Admission {
		t.Helper()
		a, err := r.Admit(ctx, "k", Request{Tokens: tokens, Quota: 1000, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// The durable ledger's count seeds the counter.
	if a := admit(300, 500); !a.Allowed || a.QuotaUsed != 800 {
		t.Fatalf("seeded: %+v", a)
	}
	// A reservation that does not fit is refused until midnight.
	a := admit(300, 0)
	midnight := t0.Truncate(24 * time.Hour).Add(24 * time.Hour)
	if a.Allowed || a.Refused != RefusedQuota || a.RetryAfter != midnight.Sub(t0) || a.QuotaUsed != 800 {
		t.Fatalf("over quota: %+v", a)
	}
	// The first request used 100 of its 300: 200 come back.
	if err := r.Settle(ctx, "k", 0, true, a.Day, -200); err != nil {
		t.Fatal(err)
	}
	if a := admit(400, 0); !a.Allowed || a.QuotaUsed != 1000 {
		t.Fatalf("after the refund: %+v", a)
	}
	// A seed above the counter (Redis lost writes) wins.
	if a := admit(1, 1000); a.Allowed {
		t.Fatalf("seed ignored: %+v", a)
	}
	// A new day starts from its own counter.
	*now = midnight.UnixMilli()
	if a := admit(1000, 0); !a.Allowed || a.QuotaUsed != 1000 || a.Day != int64(midnight.Unix()/86400) {
		t.Fatalf("next day: %+v", a)
	}
	// Settling yesterday leaves today alone.
	if err := r.Settle(ctx, "k", 0, true, a.Day-1, -1000); err != nil {
		t.Fatal(err)
	}
	if a := admit(1, 0); a.Allowed {
		t.Fatalf("yesterday's refund went to today: %+v", a)
	}
}

// Concurrent admissions from many clients never pass more than the
// budget: the script is atomic.
func TestRedisConcurrentAdmissions(t *testing.T) {
	client, prefix := redistest.Client(t)
	var limiters []*Redis
	for range 3 { // three "instances", each with its own limiter and connections
		limiters = append(limiters, NewRedis(client, RedisConfig{Prefix: prefix, Timeout: 5 * time.Second}))
	}
	var mu sync.Mutex
	allowed, used := 0, int64(0)
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Go(func() {
			a, err := limiters[i%3].Admit(context.Background(), "k", Request{RPM: 1, Burst: 10, Tokens: 7, Quota: 100})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if a.Allowed {
				allowed++
				used = max(used, a.QuotaUsed)
			}
		})
	}
	wg.Wait()
	if allowed != 10 || used != 70 {
		t.Errorf("%d admitted, %d tokens reserved; want 10 and 70", allowed, used)
	}
}

// Redis going away: calls fail fast with ErrUnavailable (counted), the
// limiter backs off, and it uses Redis again once Redis is back.
func TestRedisFailureAndRecovery(t *testing.T) {
	proxy, url := redistest.Proxy(t)
	client, release, err := AcquireRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, prefix := redistest.Client(t)
	core, logs := observer.New(zap.InfoLevel)
	logger := zap.New(core)
	r := NewRedis(client, RedisConfig{Prefix: prefix, Timeout: time.Second, Backoff: 50 * time.Millisecond,
		Logger: func() *zap.Logger { return logger }})
	ctx := context.Background()
	q := Request{RPM: 1, Burst: 100}
	if _, err := r.Admit(ctx, "k", q); err != nil {
		t.Fatal(err)
	}

	failures := func() float64 { return counterValue(t, "admit") }
	before := failures()
	proxy.Stop()
	for i := range backoffAfter {
		if _, err := r.Admit(ctx, "k", q); !errors.Is(err, ErrUnavailable) || errors.Is(err, errBackingOff) {
			t.Fatalf("with Redis down, call %d: %v", i, err)
		}
	}
	// Within the backoff, Redis is not even tried.
	if _, err := r.Admit(ctx, "k", q); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errBackingOff) {
		t.Fatalf("within the backoff: %v", err)
	}
	if err := r.Settle(ctx, "k", 100, false, 0, 5); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("settling with Redis down: %v", err)
	}
	if got := failures() - before; got != backoffAfter+1 {
		t.Errorf("counted %v admit failures, want %d", got, backoffAfter+1)
	}

	proxy.Start()
	deadline := time.Now().Add(30 * time.Second) // a hang guard, not a timing assertion
	for {
		a, err := r.Admit(ctx, "k", q)
		if err == nil {
			if !a.Allowed || a.Remaining != 98 {
				t.Errorf("after recovery: %+v (the state kept in Redis should be used)", a)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis is back but the limiter still fails: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.downUntil.Load() != 0 {
		t.Error("the backoff outlived the recovery")
	}
	// One line for the outage (the log is throttled), one for the recovery.
	down := logs.FilterMessage("rate-limit store unreachable; applying the on_failure policy").Len()
	up := logs.FilterMessage("rate-limit store reachable again").Len()
	if down != 1 || up != 1 || logs.Len() != 2 {
		t.Errorf("logged %d failures and %d recoveries in %d lines; want 1, 1, 2", down, up, logs.Len())
	}
}

func TestAcquireRedisSharesClients(t *testing.T) {
	a, releaseA, err := AcquireRedis(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, err := AcquireRedis(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("two clients for one url: a reload would drop its connections")
	}
	releaseA()
	releaseB()
	if _, _, err := AcquireRedis("redis://:secret@[bad"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad url: %v", err)
	}
}

// The cluster limiter's added latency per request on the test server:
// one script call deciding requests, tokens and quota, with the
// client's calls spread over 8 keys by 1 or 16 concurrent callers.
// Besides ns/op it reports the p50 and p99 of a call's latency
// (issue 11's target: p99 ≤ 0.5ms on loopback Redis).
func BenchmarkRedisAdmit(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run("callers="+strconv.Itoa(callers), func(b *testing.B) {
			client, prefix := redistest.Client(b)
			r := NewRedis(client, RedisConfig{Prefix: prefix})
			q := Request{RPM: 1 << 30, Burst: 1 << 30, TPM: 1 << 30, Tokens: 100, Quota: 1 << 50}
			ctx := context.Background()
			if _, err := r.Admit(ctx, "warm", q); err != nil { // loads the script
				b.Fatal(err)
			}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for range callers {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						t := time.Now()
						if _, err := r.Admit(ctx, "bench-"+strconv.Itoa(i%8), q); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
		})
	}
}

func counterValue(t *testing.T, op string) float64 {
	t.Helper()
	var m dto.Metric
	if err := storeFailures.WithLabelValues(op).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
