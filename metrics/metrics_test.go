package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// TestRegisterSurvivesReloads: every config's registry takes the same
// collectors (values carry over), and a second gateway handler in one
// config registers nothing twice.
func TestRegisterSurvivesReloads(t *testing.T) {
	first, second := prometheus.NewPedanticRegistry(), prometheus.NewPedanticRegistry()
	for _, reg := range []*prometheus.Registry{first, first, second} {
		if err := Register(reg); err != nil {
			t.Fatal(err)
		}
	}
	RateLimited("t-reload")
	for _, reg := range []*prometheus.Registry{first, second} {
		err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP xjp_rate_limited_total Requests refused with 429 because their API key exceeded its rate limit.
# TYPE xjp_rate_limited_total counter
xjp_rate_limited_total{tenant="t-reload"} 1
`), "xjp_rate_limited_total")
		if err != nil {
			t.Error(err)
		}
	}
	if err := Register(nil); err != nil {
		t.Error(err)
	}
}

func TestObserveRequest(t *testing.T) {
	ObserveRequest(&Request{Model: "m-obs", Provider: "p", Tenant: "t", Status: 200, Stream: true,
		Duration: 2 * time.Second, Overhead: time.Millisecond, TTFT: 300 * time.Millisecond,
		PromptTokens: 10, CompletionTokens: 5, CachedTokens: 2})
	ObserveRequest(&Request{Model: "m-obs", Provider: "p", Tenant: "t", Status: 499, Duration: time.Second})
	for name, tc := range map[string]struct {
		c    prometheus.Collector
		want float64
	}{
		"200":        {requests.WithLabelValues("m-obs", "p", "t", "200"), 1},
		"499":        {requests.WithLabelValues("m-obs", "p", "t", "499"), 1},
		"prompt":     {tokens.WithLabelValues("m-obs", "t", "prompt"), 10},
		"completion": {tokens.WithLabelValues("m-obs", "t", "completion"), 5},
		"cached":     {tokens.WithLabelValues("m-obs", "t", "cached"), 2},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", name, got, tc.want)
		}
	}
	// Only the stream has a time to first token; both have a duration.
	reg := prometheus.NewPedanticRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" && l.GetValue() == "m-obs" && m.GetHistogram() != nil {
					counts[f.GetName()] += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if counts["xjp_request_duration_seconds"] != 2 || counts["xjp_time_to_first_token_seconds"] != 1 {
		t.Errorf("histogram counts %v", counts)
	}
}

func TestObserveAttempt(t *testing.T) {
	ObserveAttempt("m-att", "a", 1, false, false) // the first call fails
	ObserveAttempt("m-att", "a", 2, false, false) // a retry fails
	ObserveAttempt("m-att", "b", 1, true, true)   // a fallback serves
	for name, tc := range map[string]struct {
		c    prometheus.Collector
		want float64
	}{
		"a errors":    {attempts.WithLabelValues("m-att", "a", "error"), 2},
		"b ok":        {attempts.WithLabelValues("m-att", "b", "ok"), 1},
		"a retries":   {retries.WithLabelValues("m-att", "a"), 1},
		"b fallbacks": {fallbacks.WithLabelValues("m-att", "b"), 1},
		"a fallbacks": {fallbacks.WithLabelValues("m-att", "a"), 0},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%s = %v, want %v", name, got, tc.want)
		}
	}
}

// TestBreakerStates: each route's breaker is reported once, with the
// worse state when a reload left two.
func TestBreakerStates(t *testing.T) {
	acquire := func(name, endpoint string, failures int) *resilience.Breaker {
		b, release, err := resilience.AcquireBreaker(name, endpoint,
			resilience.BreakerConfig{Failures: failures, Cooldown: caddy.Duration(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = release() })
		return b
	}
	trip := func(b *resilience.Breaker) {
		done, ok := b.Allow()
		if !ok {
			t.Fatal("breaker refused its first call")
		}
		done(&unified.Error{Kind: unified.KindOverloaded, UpstreamStatus: 503})
	}
	acquire("brk-closed/m", "http://a", 1)
	trip(acquire("brk-open/vendor/m", "http://b", 1))
	acquire("brk-two/m", "http://c", 5)       // the old settings: still closed
	trip(acquire("brk-two/m", "http://c", 1)) // the new ones: open

	reg := prometheus.NewPedanticRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather() // a pedantic registry refuses duplicate series
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "xjp_circuit_breaker_state" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["provider"]+" "+labels["model"]] = m.GetGauge().GetValue()
		}
	}
	for route, want := range map[string]float64{"brk-closed m": 0, "brk-open vendor/m": 2, "brk-two m": 2} {
		if v, ok := got[route]; !ok || v != want {
			t.Errorf("%s = %v (reported %v), want %v", route, v, ok, want)
		}
	}
}

// BenchmarkObserveRequest is the metrics' cost per request: the series
// exist after the first request, so no allocation.
func BenchmarkObserveRequest(b *testing.B) {
	r := &Request{Model: "gpt-4o", Provider: "openai", Tenant: "acme", Status: 200, Stream: true,
		Duration: time.Second, Overhead: time.Millisecond, TTFT: 200 * time.Millisecond,
		PromptTokens: 100, CompletionTokens: 50, CachedTokens: 20}
	b.ReportAllocs()
	for b.Loop() {
		RequestStarted()
		ObserveAttempt(r.Model, r.Provider, 1, false, true)
		ObserveRequest(r)
		RequestEnded()
	}
}
