// Package ratelimit limits requests per API key with token buckets
// (golang.org/x/time/rate): a key may send Burst requests at once and
// RPM per minute on average. The limiters of one process live in one
// registry that outlives configuration reloads, so a reload does not
// hand every key a fresh bucket.
package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/time/rate"
)

// Decision is the outcome of one admission, with what the rate-limit
// response headers report.
type Decision struct {
	Allowed bool
	// Limit is the key's requests per minute.
	Limit int
	// Remaining is how many requests the key may send right now.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// RetryAfter is how long a refused request should wait.
	RetryAfter time.Duration
	// Tokens is the key's tokens-per-minute state; its Limit is 0 when
	// the key has no token limit.
	Tokens TokenState
}

// TokenState is what the token rate-limit headers report.
type TokenState struct {
	// Limit is the key's tokens per minute.
	Limit int
	// Remaining is how many tokens the key may spend right now.
	Remaining int
	// Reset is how long until the key's token budget is whole again.
	Reset time.Duration
}

// Registry holds one limiter per key.
type Registry struct {
	limiters sync.Map // key id → *limiter
	tokens   sync.Map // key id → *tokenBucket (tokens per minute)
	stop     chan struct{}
	done     chan struct{}
}

type limiter struct {
	lim      *rate.Limiter
	lastUsed atomic.Int64 // unix nanoseconds
}

// Allow admits one request of key id, limited to rpm requests per
// minute with bursts of burst (values below 1 count as 1).
func (r *Registry) Allow(id string, rpm, burst int, now time.Time) Decision {
	rpm, burst = max(rpm, 1), max(burst, 1)
	every := rate.Limit(float64(rpm) / 60)
	v, ok := r.limiters.Load(id)
	if !ok {
		v, _ = r.limiters.LoadOrStore(id, &limiter{lim: rate.NewLimiter(every, burst)})
	}
	l := v.(*limiter)
	l.lastUsed.Store(now.UnixNano())
	// A changed limit (a reload, or the key's row) applies in place:
	// the bucket keeps its tokens.
	if l.lim.Limit() != every {
		l.lim.SetLimitAt(now, every)
	}
	if l.lim.Burst() != burst {
		l.lim.SetBurstAt(now, burst)
	}

	d := Decision{Limit: rpm}
	res := l.lim.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		d.RetryAfter = delay
	} else {
		d.Allowed = true
	}
	tokens := l.lim.TokensAt(now)
	d.Remaining = max(0, int(math.Floor(tokens)))
	d.Reset = time.Duration((float64(burst) - tokens) / float64(every) * float64(time.Second))
	return d
}

// sweep forgets limiters whose bucket has refilled: they are in the
// state a new limiter starts in, so nothing is lost.
func (r *Registry) sweep(now time.Time) {
	r.limiters.Range(func(k, v any) bool {
		l := v.(*limiter)
		if now.Sub(time.Unix(0, l.lastUsed.Load())) >= idleAfter && l.lim.TokensAt(now) >= float64(l.lim.Burst()) {
			r.limiters.CompareAndDelete(k, v)
		}
		return true
	})
}

// Len is the number of limiters held.
func (r *Registry) Len() int {
	n := 0
	r.limiters.Range(func(any, any) bool { n++; return true })
	return n
}

// idleAfter is how long a limiter must be unused before the sweep may
// drop it.
const idleAfter = time.Minute

func (r *Registry) run(every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			r.sweep(now)
			r.sweepTokens(now)
		case <-r.stop:
			return
		}
	}
}

// Destruct implements caddy.Destructor.
func (r *Registry) Destruct() error {
	close(r.stop)
	<-r.done
	return nil
}

var registries = caddy.NewUsagePool()

// registryKey names the process's one registry: key ids are unique
// across key stores, so every gateway handler shares it.
const registryKey = "xjp_gateway.rate_limits"

// Acquire returns the process's registry; call the release function when
// the configuration that acquired it is cleaned up.
func Acquire() (*Registry, func() error, error) {
	v, _, err := registries.LoadOrNew(registryKey, func() (caddy.Destructor, error) {
		r := &Registry{stop: make(chan struct{}), done: make(chan struct{})}
		go r.run(idleAfter)
		return r, nil
	})
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	release := func() error {
		var err error
		once.Do(func() { _, err = registries.Delete(registryKey) })
		return err
	}
	return v.(*Registry), release, nil
}

// SetHeaders writes the rate-limit headers clients of the dialect read:
// OpenAI's x-ratelimit-*-requests and x-ratelimit-*-tokens (reset as a
// duration such as "1s" or "6m0s"), Anthropic's
// anthropic-ratelimit-requests-* and anthropic-ratelimit-tokens-* (reset
// as an RFC 3339 time), each for the limits the key has. A refused request also gets Retry-After and
// retry-after-ms, which both dialects' SDKs honour.
func SetHeaders(h http.Header, dialect string, d Decision, now time.Time) {
	switch dialect {
	case "anthropic":
		if d.Limit > 0 {
			h.Set("Anthropic-Ratelimit-Requests-Limit", strconv.Itoa(d.Limit))
			h.Set("Anthropic-Ratelimit-Requests-Remaining", strconv.Itoa(d.Remaining))
			h.Set("Anthropic-Ratelimit-Requests-Reset", now.Add(d.Reset).UTC().Format(time.RFC3339))
		}
		if t := d.Tokens; t.Limit > 0 {
			h.Set("Anthropic-Ratelimit-Tokens-Limit", strconv.Itoa(t.Limit))
			h.Set("Anthropic-Ratelimit-Tokens-Remaining", strconv.Itoa(t.Remaining))
			h.Set("Anthropic-Ratelimit-Tokens-Reset", now.Add(t.Reset).UTC().Format(time.RFC3339))
		}
	default:
		if d.Limit > 0 {
			h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(d.Limit))
			h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(d.Remaining))
			h.Set("X-Ratelimit-Reset-Requests", FormatReset(d.Reset))
		}
		if t := d.Tokens; t.Limit > 0 {
			h.Set("X-Ratelimit-Limit-Tokens", strconv.Itoa(t.Limit))
			h.Set("X-Ratelimit-Remaining-Tokens", strconv.Itoa(t.Remaining))
			h.Set("X-Ratelimit-Reset-Tokens", FormatReset(t.Reset))
		}
	}
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(d.RetryAfter.Seconds()))))
		h.Set("Retry-After-Ms", strconv.FormatInt(int64(math.Ceil(float64(d.RetryAfter)/float64(time.Millisecond))), 10))
	}
}

// FormatReset formats a reset delay as OpenAI does: a Go duration
// rounded to the millisecond ("1s", "6m0s", "17ms"); "0s" when full.
func FormatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return max(d.Round(time.Millisecond), time.Millisecond).String()
}
