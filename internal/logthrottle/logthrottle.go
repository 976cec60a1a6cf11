// Package logthrottle keeps a failure that repeats on every request (a
// store down) from flooding the log.
package logthrottle

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// Throttle lets a failure that repeats on every request (the key store
// down) reach the log once per interval instead of once per request, so an
// outage cannot flood the log. A line after a quiet spell says how many
// were suppressed since the last one.
type Throttle struct {
	Every time.Duration
	Now   func() time.Time // time.Now; tests replace it

	mu         sync.Mutex
	last       time.Time // when a line was last written; zero: never
	suppressed int
}

// Error writes msg at ERROR through l unless a line went out less than
// Every ago, in which case it only counts it. A nil Throttle lets every
// line through.
func (t *Throttle) Error(l *zap.Logger, msg string, fields ...zap.Field) {
	if t == nil {
		l.Error(msg, fields...)
		return
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	t.mu.Lock()
	at := now()
	if !t.last.IsZero() && at.Sub(t.last) < t.Every {
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
