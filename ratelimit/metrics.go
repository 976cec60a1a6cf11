package ratelimit

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// storeFailures counts the calls the Redis store could not serve, for
// every limiter of the process. It is created once and registered into
// each configuration's registry, so its value survives reloads.
var storeFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "xjp_ratelimit_store_failures_total",
	Help: "Rate-limit store calls that failed or were skipped while the store was down, by operation (admit, settle); each admission counted here followed the on_failure policy.",
}, []string{"operation"})

// RegisterMetrics registers the limiter's metrics into reg (Caddy's
// registry of the configuration being provisioned).
func RegisterMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(storeFailures); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return fmt.Errorf("registering rate-limit metrics: %w", err)
		}
	}
	return nil
}
