// Package metrics holds the gateway's Prometheus collectors (the xjp_*
// series) and the calls that update them.
//
// The collectors are created once per process and registered into the
// registry of every config Caddy loads (Register), so that their values
// survive config reloads and they appear wherever Caddy exposes its
// metrics: the admin endpoint's /metrics and the metrics handler.
//
// Labels stay bounded: model is the public model name the gateway
// resolved (never what a client typed), provider a configured provider,
// tenant a key store's tenant (or empty when the tenant label is off).
// No label ever holds a key id.
package metrics

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Buckets, in seconds.
var (
	// durationBuckets span a cached answer (5 ms) to a long generation
	// (120 s).
	durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120}
	// ttftBuckets span a fast model's first token to a reasoning model's.
	ttftBuckets = []float64{.025, .05, .1, .25, .5, .75, 1, 1.5, 2, 3, 5, 10, 20, 30, 60}
	// overheadBuckets span the gateway's own work: 50 µs to 1 s.
	overheadBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
)

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xjp_requests_total",
		Help: "Chat requests answered, by public model, provider that served (or last failed), tenant and HTTP status (499: the client left).",
	}, []string{"model", "provider", "tenant", "status"})

	duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "xjp_request_duration_seconds",
		Help:    "Time from a chat request's arrival to the end of its answer.",
		Buckets: durationBuckets,
	}, []string{"model", "provider"})

	tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xjp_tokens_total",
		Help: "Tokens charged, by public model, tenant and type: prompt, completion or cached (prompt tokens read from the provider's cache, also counted in prompt).",
	}, []string{"model", "tenant", "type"})

	ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "xjp_time_to_first_token_seconds",
		Help:    "Time from a streamed request's arrival to its first token of output.",
		Buckets: ttftBuckets,
	}, []string{"model", "provider"})

	attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xjp_upstream_attempts_total",
		Help: "Calls made to providers, retries and fallbacks included, by outcome: ok (the answer began) or error.",
	}, []string{"model", "provider", "outcome"})

	retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xjp_upstream_retries_total",
		Help: "Calls that repeated a failed call of the same route.",
	}, []string{"model", "provider"})

	fallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xjp_fallbacks_total",
		Help: "Times a request moved on to another route (provider is the route moved to).",
	}, []string{"model", "provider"})

	rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xjp_rate_limited_total",
		Help: "Requests refused with 429 because their API key exceeded its rate limit.",
	}, []string{"tenant"})

	quotaRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "xjp_quota_rejected_total",
		Help: "Requests refused because their API key used up its daily token quota.",
	}, []string{"tenant"})

	inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "xjp_requests_in_flight",
		Help: "Chat requests being served.",
	})

	streams = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "xjp_streams_in_flight",
		Help: "Streamed answers being relayed to clients.",
	})

	overhead = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "xjp_gateway_overhead_seconds",
		Help:    "The gateway's own time per chat request: its duration minus the time spent waiting on providers.",
		Buckets: overheadBuckets,
	})
)

// collectors are every collector of this package, in registration order.
var collectors = []prometheus.Collector{
	requests, duration, tokens, ttft, attempts, retries, fallbacks,
	rateLimited, quotaRejected, inFlight, streams, overhead, breakerStates,
}

// Register registers the gateway's collectors into reg, the registry of
// the config being provisioned (caddy.Context.GetMetricsRegistry). It may
// be called for every gateway handler of a config: a collector already
// registered is left as it is.
func Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("registering the gateway's metrics: %w", err)
			}
		}
	}
	return nil
}
