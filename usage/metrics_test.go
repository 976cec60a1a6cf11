package usage

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestQueueDepthMetric: the gauge sums the rows waiting in the live
// ledgers' queues, and a closed ledger leaves it.
func TestQueueDepthMetric(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := RegisterMetrics(reg); err != nil {
		t.Fatalf("registering again (a second store in the config): %v", err)
	}
	before := testutil.ToFloat64(queueDepth)
	l := newLedger(nil, Config{QueueSize: 10, FlushInterval: time.Hour}) // writer not started: rows stay queued
	live.Store(l, struct{}{})
	defer live.Delete(l)
	for range 3 {
		l.Begin()
		l.Record(&Record{KeyID: "k", Time: time.Now()})
	}
	if got := testutil.ToFloat64(queueDepth) - before; got != 3 {
		t.Errorf("queue depth grew by %v, want 3", got)
	}
	live.Delete(l)
	if got := testutil.ToFloat64(queueDepth); got != before {
		t.Errorf("queue depth %v after the ledger left, want %v", got, before)
	}
	if n, err := testutil.GatherAndCount(reg, "xjp_usage_log_queue_depth", "xjp_usage_log_dropped_total"); err != nil || n != 2 {
		t.Errorf("gathered %d series (%v), want 2", n, err)
	}
}
