package resilience

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Conditions is a set of failures worth a retry.
type Conditions struct {
	connect, timeout bool
	status           [10]uint64 // a bit per HTTP status below 640
}

// DefaultConditions are connect timeout 429 500 502 503 504 529.
var DefaultConditions = mustConditions("connect", "timeout", "429", "500", "502", "503", "504", "529")

func mustConditions(names ...string) Conditions {
	c, err := ParseConditions(names)
	if err != nil {
		panic(err)
	}
	return c
}

// ParseConditions reads the condition names of a retry's on list.
func ParseConditions(names []string) (Conditions, error) {
	var c Conditions
	for _, n := range names {
		switch n = strings.ToLower(n); n {
		case "connect":
			c.connect = true
		case "timeout":
			c.timeout = true
		case "overloaded":
			c.setStatus(529)
		default:
			s, err := strconv.Atoi(n)
			if err != nil || !retryableStatus(s) {
				return c, fmt.Errorf("unknown retry condition %q: want connect, timeout, overloaded or a status among 408, 409, 429 and 500-599", n)
			}
			c.setStatus(s)
		}
	}
	return c, nil
}

// retryableStatus is a status the connectors may mark as passing.
func retryableStatus(s int) bool {
	return s == 408 || s == 409 || s == 429 || (s >= 500 && s <= 599)
}

func (c *Conditions) setStatus(s int) { c.status[s/64] |= 1 << (s % 64) }
func (c *Conditions) hasStatus(s int) bool {
	return s > 0 && s < 640 && c.status[s/64]&(1<<(s%64)) != 0
}

// Match says whether e is a failure c names. Only failures their connector
// marked as passing (Retryable) match.
func (c Conditions) Match(e *unified.Error) bool {
	if e == nil || !e.Retryable {
		return false
	}
	switch {
	case e.UpstreamStatus != 0:
		return c.hasStatus(e.UpstreamStatus)
	case e.Kind == unified.KindTimeout:
		return c.timeout
	case e.Kind == unified.KindOverloaded: // an overloaded error inside a stream
		return c.hasStatus(529)
	case e.Kind == unified.KindRateLimit:
		return c.hasStatus(429)
	default: // no answer, or an answer that broke off before it began
		return c.connect
	}
}

// RetryPolicy is a resolved retry block.
type RetryPolicy struct {
	Attempts    int
	Initial     time.Duration
	Max         time.Duration
	TryDuration time.Duration
	On          Conditions

	// Jitter returns a random duration in [0, n); nil uses math/rand/v2.
	// Tests set it to make waits predictable.
	Jitter func(n int64) int64
	// Sleep waits d or until ctx ends; nil uses a timer. Tests set it to
	// record waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Wait returns how long to wait before calling a route again after its
// try-th call failed with e, and false when the route must not be called
// again: the attempts are spent, the failure is not one to retry, or the
// wait would end after the retry budget (elapsed is the time since the
// request's first attempt began).
func (p *RetryPolicy) Wait(try int, e *unified.Error, elapsed time.Duration) (time.Duration, bool) {
	if try >= p.Attempts || !p.On.Match(e) {
		return 0, false
	}
	d := p.backoff(try)
	if e.RetryAfter > d {
		d = e.RetryAfter
	}
	if p.TryDuration > 0 && elapsed+d > p.TryDuration {
		return 0, false
	}
	return d, true
}

// backoff is the full-jitter wait after the try-th call: a random
// duration up to min(Max, Initial·2^(try-1)).
func (p *RetryPolicy) backoff(try int) time.Duration {
	ceiling := p.Initial
	for i := 1; i < try && ceiling < p.Max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.Max)
	if ceiling <= 0 {
		return 0
	}
	jitter := p.Jitter
	if jitter == nil {
		jitter = rand.Int64N
	}
	return time.Duration(jitter(int64(ceiling) + 1))
}

// Pause waits d, or until ctx ends, and returns ctx's error then.
func (p *RetryPolicy) Pause(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MayFallBack says whether another route might succeed where one failed
// with e: yes for provider-side failures, no for problems with the
// request itself or a bug in the gateway.
func MayFallBack(e *unified.Error) bool {
	switch e.Kind {
	case unified.KindInvalidRequest, unified.KindRequestTooLarge, unified.KindInternal:
		return false
	}
	return true
}

// ProviderFailure says whether e counts against a provider's circuit
// breaker: the provider failed, was overloaded, rate-limited the gateway,
// refused its credentials or did not answer in time. The client's own
// mistakes do not count.
func ProviderFailure(e *unified.Error) bool {
	switch e.Kind {
	case unified.KindUpstream, unified.KindOverloaded, unified.KindTimeout, unified.KindRateLimit,
		unified.KindQuota, unified.KindUnavailable:
		return true
	}
	return false
}
