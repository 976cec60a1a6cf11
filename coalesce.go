package xjpgateway

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// flushGate is the response writer a streamed answer is written through.
// While hold is set, flushes are skipped: the pipeline holds them while it
// writes an event, then flushes only if the upstream stream does not
// already have the next one (unified.Pender), so a burst of events reaches
// the client in one write to the connection instead of one per event. It
// never holds while the gateway waits on the upstream, so no event is
// delayed.
//
// The keep-alive goroutine writes and flushes through it too, so writes
// and flushes hold mu: the pipeline's own flush is not under the
// keep-alive's lock.
type flushGate struct {
	http.ResponseWriter
	rc   *http.ResponseController
	mu   sync.Mutex
	hold atomic.Bool
}

func newFlushGate(w http.ResponseWriter) *flushGate {
	return &flushGate{ResponseWriter: w, rc: http.NewResponseController(w)}
}

func (g *flushGate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController.Flush calls.
func (g *flushGate) FlushError() error {
	if g.hold.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.rc.Flush()
}

// Flush implements http.Flusher for writers that look for it.
func (g *flushGate) Flush() { _ = g.FlushError() }

// Unwrap lets http.ResponseController reach the connection for the rest.
func (g *flushGate) Unwrap() http.ResponseWriter { return g.ResponseWriter }
