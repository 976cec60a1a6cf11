package xjpgateway

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// readinessChecker is a key store that can say whether it is usable (the
// postgres store: its database answers).
type readinessChecker interface {
	Ready(ctx context.Context) error
}

// probeCacheFor is how long the gateway keeps the answer of its own
// probes (the cluster mode's Redis), so that frequent probes cost one
// ping per interval.
const probeCacheFor = time.Second

// probe caches the answer of a readiness check.
type probe struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// check returns the cached answer, or runs f for a new one.
func (p *probe) check(ctx context.Context, f func(context.Context) error) error {
	p.mu.Lock() // one check at a time; the others wait for its answer
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < probeCacheFor {
		return p.err
	}
	p.err = f(ctx)
	p.at = time.Now()
	return p.err
}

// serveHealth answers the readiness probe at HealthPath with a small JSON
// body naming each check: 200 when the gateway can serve, 503 when it
// cannot (its key store is not usable, or the cluster mode's Redis is
// down and on_failure is closed). Redis down with on_failure open is
// "degraded", with 200: requests are served, with in-process limits. The
// body never says why a check failed, which could describe the
// infrastructure to anyone; the gateway's log does.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	state := "ok"
	checks := []byte(`"key_store":`)
	keyStore := "ok"
	if rc, ok := g.keys.(readinessChecker); ok {
		if err := rc.Ready(r.Context()); err != nil {
			keyStore, state = "unavailable", "unavailable"
			g.logger.Warn("readiness: the key store is not usable", zap.Error(err))
		}
	}
	checks = strconv.AppendQuote(checks, keyStore)
	if g.cluster != nil {
		store := "ok"
		if err := g.clusterProbe.check(r.Context(), g.cluster.store.Ping); err != nil {
			store = "unavailable"
			switch {
			case !g.cluster.failOpen:
				state = "unavailable"
			case state == "ok":
				state = "degraded"
			}
			g.logger.Warn("readiness: the rate-limit store is not reachable", zap.Error(err))
		}
		checks = append(checks, `,"rate_limit_store":`...)
		checks = strconv.AppendQuote(checks, store)
	}
	b := strconv.AppendQuote([]byte(`{"status":`), state)
	b = append(b, `,"checks":{`...)
	b = append(append(b, checks...), "}}\n"...)

	status := http.StatusOK
	if state == "unavailable" {
		status = http.StatusServiceUnavailable
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
