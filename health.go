package xjpgateway

import (
	"context"
	"net/http"
	"strconv"

	"go.uber.org/zap"
)

// readinessChecker is a key store that can say whether it is usable (the
// postgres store: its database answers).
type readinessChecker interface {
	Ready(ctx context.Context) error
}

// serveHealth answers the readiness probe at HealthPath: 200 when the
// gateway can serve (its key store is usable), 503 otherwise, with a
// small JSON body saying which check failed. It never says why, which
// could describe the infrastructure to anyone; the gateway's log does.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	keyStore := "ok"
	if rc, ok := g.keys.(readinessChecker); ok {
		if err := rc.Ready(r.Context()); err != nil {
			keyStore = "unavailable"
			g.logger.Warn("readiness: the key store is not usable", zap.Error(err))
		}
	}
	status, state := http.StatusOK, "ok"
	if keyStore != "ok" {
		status, state = http.StatusServiceUnavailable, "unavailable"
	}
	body := `{"status":` + strconv.Quote(state) + `,"checks":{"key_store":` + strconv.Quote(keyStore) + `}}` + "\n"
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
