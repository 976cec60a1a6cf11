package usage

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// droppedRows counts usage-log rows lost, for every ledger of the
// process. It is created once and registered into each configuration's
// registry, so its value survives reloads.
var droppedRows = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "xjp_usage_log_dropped_total",
	Help: "Usage-log rows dropped: queue full, database refusing them, or still unwritten when the gateway stopped.",
})

// RegisterMetrics registers the ledger's metrics into reg (Caddy's
// registry of the configuration being provisioned).
func RegisterMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(droppedRows); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return fmt.Errorf("registering usage metrics: %w", err)
		}
	}
	return nil
}
