package postgres

import (
	"context"
	"sync"
	"time"
)

// readyCacheFor is how long a readiness answer is kept, so that load
// balancers probing often cost the database one query per interval; a
// variable for tests.
var readyCacheFor = time.Second

// readyTimeout bounds a readiness probe's query.
const readyTimeout = time.Second

// readiness caches the last answer of a readiness probe.
type readiness struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// Ready says whether the store can authenticate keys it has not cached:
// whether its database answers, with the gateway's schema, within a
// second. The answer is cached for a second. It implements the gateway's
// readiness check.
func (s *Store) Ready(ctx context.Context) error {
	r := s.ready
	r.mu.Lock() // one probe at a time; the others wait for its answer
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyCacheFor {
		return r.err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	_, err := s.db.pool.Exec(ctx, "SELECT 1 FROM api_keys LIMIT 0")
	r.at, r.err = time.Now(), err
	return err
}
