package usage

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// droppedRows counts usage-log rows lost, for every ledger of the
// process. It is created once and registered into each configuration's
// registry, so its value survives reloads.
var droppedRows = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "xjp_usage_log_dropped_total",
	Help: "Usage-log rows dropped: queue full, database refusing them, or still unwritten when the gateway stopped.",
})

// live holds the ledgers started and not yet closed (keys *Ledger).
var live sync.Map

// queueDepth reports, when scraped, the rows waiting in every live
// ledger's queue.
var queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
	Name: "xjp_usage_log_queue_depth",
	Help: "Usage-log rows waiting to be written to the database.",
}, func() float64 {
	n := 0
	live.Range(func(k, _ any) bool {
		n += k.(*Ledger).QueueLen()
		return true
	})
	return float64(n)
})

// RegisterMetrics registers the ledger's metrics into reg (Caddy's
// registry of the configuration being provisioned).
func RegisterMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{droppedRows, queueDepth} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("registering usage metrics: %w", err)
			}
		}
	}
	return nil
}
