package ratelimit

import (
	"context"
	"time"
)

// readyTimeout bounds a readiness probe's ping.
const readyTimeout = time.Second

// Ping says whether the store's Redis answers within a second, for
// readiness probes. It does not count as a failure of the limiter.
func (r *Redis) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return r.client.Ping(ctx).Err()
}
