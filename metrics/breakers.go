package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xiaojinpro/xjp-gateway/resilience"
)

// breakerStates reports the state of every route's circuit breaker when
// scraped, so that no hot path or state change has to update it.
var breakerStates prometheus.Collector = breakerCollector{}

var breakerDesc = prometheus.NewDesc("xjp_circuit_breaker_state",
	"State of each route's circuit breaker: 0 closed, 1 half-open (probing), 2 open (the route is passed over).",
	[]string{"provider", "model"}, nil)

type breakerCollector struct{}

func (breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- breakerDesc }

func (breakerCollector) Collect(ch chan<- prometheus.Metric) {
	// A route may have two breakers while a reload changes its settings:
	// report the worse state once, as a registry refuses duplicates.
	states := make(map[string]float64)
	resilience.EachBreaker(func(name string, b *resilience.Breaker) {
		v := stateValue(b.State())
		if old, ok := states[name]; !ok || v > old {
			states[name] = v
		}
	})
	for name, v := range states {
		provider, model, _ := strings.Cut(name, "/")
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, v, provider, model)
	}
}

func stateValue(state string) float64 {
	switch state {
	case "open":
		return 2
	case "half-open":
		return 1
	default:
		return 0
	}
}
