package xjpgateway

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// logThrottle lets a failure that repeats on every request (the key store
// down) reach the log once per interval instead of once per request, so an
// outage cannot flood the log. A line after a quiet spell says how many
// were suppressed since the last one.
type logThrottle struct {
	every time.Duration
	now   func() time.Time // time.Now; tests replace it

	mu         sync.Mutex
	last       time.Time // when a line was last written; zero: never
	suppressed int
}

// keyStoreLogInterval is how often a failing key store (or idempotency
// store) is logged.
const keyStoreLogInterval = 10 * time.Second

// log writes msg at ERROR through l unless a line went out less than
// every ago, in which case it only counts it.
func (t *logThrottle) log(l *zap.Logger, msg string, fields ...zap.Field) {
	if t == nil { // a Gateway that was not provisioned, in tests
		l.Error(msg, fields...)
		return
	}
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	t.mu.Lock()
	at := now()
	if !t.last.IsZero() && at.Sub(t.last) < t.every {
		t.suppressed++
		t.mu.Unlock()
		return
	}
	n := t.suppressed
	t.last, t.suppressed = at, 0
	t.mu.Unlock()
	if n > 0 {
		fields = append(fields, zap.Int("suppressed", n))
	}
	l.Error(msg, fields...)
}
