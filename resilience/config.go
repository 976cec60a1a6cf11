// Package resilience holds the gateway's failure policies: per-attempt
// timeouts, retries with backoff, and circuit breakers kept across config
// reloads. It knows nothing of Caddy's HTTP server or of connectors; the
// routing package applies the policies to a model's routes and the
// pipeline to each attempt.
package resilience

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// Timeouts bound one attempt at a provider. A provider block sets them for
// all its routes; a model block may override first_byte, stream_idle and
// total for its routes, field by field. A negative duration ("off" in the
// Caddyfile) turns a timeout off.
type Timeouts struct {
	// Dial bounds connecting to the provider, TLS handshake included. Set
	// on a provider only. Default: 10s.
	Dial caddy.Duration `json:"dial,omitempty"`

	// FirstByte bounds the wait for the answer to begin: for a streamed
	// request, until the provider's status and first event; for a
	// non-streamed one, until its response headers (most providers send
	// them with the whole answer, so it then bounds the whole
	// generation). Exceeded, the attempt fails with 504 before anything
	// reached the client, so a retry or the next route may still serve.
	// Default: 5m.
	FirstByte caddy.Duration `json:"first_byte,omitempty"`

	// StreamIdle is the longest a streamed answer may stay silent between
	// two events once it has begun. Exceeded, the stream ends with the
	// client dialect's error event (the answer has begun: no failover).
	// Keep-alives the gateway writes (stream_keepalive) do not count as
	// events. Default: 5m.
	StreamIdle caddy.Duration `json:"stream_idle,omitempty"`

	// Total bounds a whole attempt, from sending the request to the last
	// event. Exceeded before the first byte, the attempt fails with 504
	// (and may fail over); after it, the stream ends with an error event.
	// Default: none.
	Total caddy.Duration `json:"total,omitempty"`
}

// Limits are resolved timeouts of an attempt; 0 means none.
type Limits struct {
	FirstByte  time.Duration
	StreamIdle time.Duration
	Total      time.Duration
}

// Default timeouts.
const (
	DefaultDial       = 10 * time.Second
	DefaultFirstByte  = 5 * time.Minute
	DefaultStreamIdle = 5 * time.Minute
)

// DefaultLimits are the timeouts of a route nothing configures.
var DefaultLimits = Limits{FirstByte: DefaultFirstByte, StreamIdle: DefaultStreamIdle}

// Over returns base with the fields t sets replaced; a negative field
// turns that timeout off. A nil t returns base.
func (t *Timeouts) Over(base Limits) Limits {
	if t == nil {
		return base
	}
	set := func(dst *time.Duration, v caddy.Duration) {
		switch {
		case v < 0:
			*dst = 0
		case v > 0:
			*dst = time.Duration(v)
		}
	}
	set(&base.FirstByte, t.FirstByte)
	set(&base.StreamIdle, t.StreamIdle)
	set(&base.Total, t.Total)
	return base
}

// DialTimeout is the connect timeout t sets, or 0.
func (t *Timeouts) DialTimeout() time.Duration {
	if t == nil || t.Dial <= 0 {
		return 0
	}
	return time.Duration(t.Dial)
}

// Retry says when a failed attempt is tried again on the same route,
// before the model's next route is tried. Set it on the gateway for every
// model; a model's own retry block overrides it field by field.
type Retry struct {
	// Attempts is how many times one route is called at most, the first
	// call included. Default: 1 (no retries).
	Attempts int `json:"attempts,omitempty"`

	// Backoff is the wait before each retry: exponential from Initial,
	// capped at Max, with full jitter (a random wait between zero and the
	// cap). An upstream's Retry-After (or retry-after-ms) is waited for
	// when it is longer.
	Backoff *Backoff `json:"backoff,omitempty"`

	// TryDuration is the budget for retries, counted from the request's
	// first attempt: a retry whose wait would end after it is not made,
	// and the next route is tried at once instead. Moving on to the next
	// route never waits, so fallbacks are tried whatever the budget.
	// Default: 30s.
	TryDuration caddy.Duration `json:"try_duration,omitempty"`

	// On lists the failures worth a retry: connect (the provider could
	// not be reached, or its answer broke off before it began), timeout
	// (a timeout before the first byte), an HTTP status (408, 409, 429
	// or 5xx, e.g. 500 502 503 504 529) or overloaded (529, and an
	// overloaded error inside a stream). Only failures the provider
	// marks as passing are retried: a 429 for an exhausted credit is not.
	// Default: connect timeout 429 500 502 503 504 529.
	On []string `json:"on,omitempty"`
}

// Backoff is an exponential backoff.
type Backoff struct {
	// Initial is the cap of the first wait; each retry doubles it.
	// Default: 250ms.
	Initial caddy.Duration `json:"initial,omitempty"`
	// Max caps every wait. Default: 5s.
	Max caddy.Duration `json:"max,omitempty"`
}

// Default retry settings.
const (
	DefaultAttempts       = 1
	DefaultBackoffInitial = 250 * time.Millisecond
	DefaultBackoffMax     = 5 * time.Second
	DefaultTryDuration    = 30 * time.Second
)

// DefaultRetry is the retry policy of a gateway without a retry block.
var DefaultRetry = RetryPolicy{
	Attempts:    DefaultAttempts,
	Initial:     DefaultBackoffInitial,
	Max:         DefaultBackoffMax,
	TryDuration: DefaultTryDuration,
	On:          DefaultConditions,
}

// Over returns base with the fields r sets replaced. A nil r returns
// base.
func (r *Retry) Over(base RetryPolicy) (RetryPolicy, error) {
	if r == nil {
		return base, nil
	}
	if r.Attempts < 0 {
		return base, fmt.Errorf("retry attempts must be at least 1, not %d", r.Attempts)
	}
	if r.Attempts > 0 {
		base.Attempts = r.Attempts
	}
	if b := r.Backoff; b != nil {
		if b.Initial < 0 || b.Max < 0 {
			return base, fmt.Errorf("retry backoff must not be negative")
		}
		if b.Initial > 0 {
			base.Initial = time.Duration(b.Initial)
		}
		if b.Max > 0 {
			base.Max = time.Duration(b.Max)
		}
	}
	if base.Max < base.Initial {
		return base, fmt.Errorf("retry backoff: the maximum %s is below the initial wait %s", base.Max, base.Initial)
	}
	if r.TryDuration < 0 {
		return base, fmt.Errorf("retry try_duration must not be negative")
	}
	if r.TryDuration > 0 {
		base.TryDuration = time.Duration(r.TryDuration)
	}
	if len(r.On) > 0 {
		on, err := ParseConditions(r.On)
		if err != nil {
			return base, err
		}
		base.On = on
	}
	return base, nil
}

// BreakerConfig configures the circuit breaker of each route of a
// provider (one breaker per upstream model). A closed breaker lets every
// call through and counts provider-side failures: 5xx, 429, timeouts,
// connection failures, broken streams; not the client's own mistakes
// (4xx for a bad request) nor calls the client abandoned. When the
// failures reach a threshold it opens: the route is skipped, without a
// call, for Cooldown, and the model's next route serves. Then it is
// half-open: HalfOpen probe calls go through; if they all succeed it
// closes, and one failure opens it again.
type BreakerConfig struct {
	// Failures is how many failures in a row open the breaker. Default: 5
	// when FailureRatio is not set, otherwise off.
	Failures int `json:"failures,omitempty"`

	// FailureRatio opens the breaker when this share (0 to 1) of the
	// calls completed within Window failed, once at least MinRequests
	// calls completed there.
	FailureRatio float64 `json:"failure_ratio,omitempty"`

	// MinRequests is the fewest completed calls within Window for
	// FailureRatio to apply. Default: 10.
	MinRequests int `json:"min_requests,omitempty"`

	// Window is the rolling window over which a closed breaker counts
	// calls (in ten buckets). Default: 60s.
	Window caddy.Duration `json:"window,omitempty"`

	// Cooldown is how long an open breaker stays open before it lets
	// probes through. Default: 30s.
	Cooldown caddy.Duration `json:"cooldown,omitempty"`

	// HalfOpen is how many probe calls a half-open breaker lets through
	// at once; that many successes close it. Default: 1.
	HalfOpen int `json:"half_open,omitempty"`
}

// Default breaker settings.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerMinRequests = 10
	DefaultBreakerWindow      = time.Minute
	DefaultBreakerCooldown    = 30 * time.Second
	DefaultBreakerHalfOpen    = 1
)

// resolved returns c with its defaults applied, or an error for a value
// out of range.
func (c BreakerConfig) resolved() (BreakerConfig, error) {
	switch {
	case c.Failures < 0, c.MinRequests < 0, c.Window < 0, c.Cooldown < 0, c.HalfOpen < 0:
		return c, fmt.Errorf("breaker settings must not be negative")
	case c.FailureRatio < 0 || c.FailureRatio > 1:
		return c, fmt.Errorf("breaker failure_ratio must be between 0 and 1, not %g", c.FailureRatio)
	}
	if c.Failures == 0 && c.FailureRatio == 0 {
		c.Failures = DefaultBreakerFailures
	}
	if c.MinRequests == 0 {
		c.MinRequests = DefaultBreakerMinRequests
	}
	if c.Window == 0 {
		c.Window = caddy.Duration(DefaultBreakerWindow)
	}
	if c.Cooldown == 0 {
		c.Cooldown = caddy.Duration(DefaultBreakerCooldown)
	}
	if c.HalfOpen == 0 {
		c.HalfOpen = DefaultBreakerHalfOpen
	}
	return c, nil
}
