package resilience

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Abandoned is the outcome of an attempt its client gave up on: it counts
// neither for nor against the provider.
var Abandoned = errors.New("the client abandoned the attempt")

// Breaker is the circuit breaker of one route. A nil *Breaker lets every
// call through.
type Breaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	cooldown time.Duration
	openedAt atomic.Int64 // unix nanoseconds of the last opening
}

// Destruct implements caddy.Destructor; a breaker holds no resources.
func (*Breaker) Destruct() error { return nil }

// Allow asks to call the route. When the breaker lets the call through,
// done must be called exactly once with the attempt's outcome: nil for a
// success, the failure, or Abandoned. ok is false when the breaker is open
// or its half-open probes are all out: skip the route.
func (b *Breaker) Allow() (done func(outcome error), ok bool) {
	if b == nil {
		return func(error) {}, true
	}
	done, err := b.cb.Allow()
	if err != nil {
		return nil, false
	}
	return done, true
}

// Open says whether the breaker is open, so that load balancing can pass
// its route over. A half-open breaker is not open.
func (b *Breaker) Open() bool { return b != nil && b.cb.State() == gobreaker.StateOpen }

// ReopensIn is how long an open breaker stays open; 0 when it is not open.
func (b *Breaker) ReopensIn() time.Duration {
	if !b.Open() {
		return 0
	}
	return max(b.cooldown-time.Since(time.Unix(0, b.openedAt.Load())), 0)
}

// State is the breaker's state: closed, half-open or open.
func (b *Breaker) State() string {
	if b == nil {
		return "closed"
	}
	return b.cb.State().String()
}

func newBreaker(name string, c BreakerConfig) *Breaker {
	b := &Breaker{cooldown: time.Duration(c.Cooldown)}
	window := time.Duration(c.Window)
	settings := gobreaker.Settings{
		Name:         name,
		MaxRequests:  uint32(c.HalfOpen),
		Interval:     window,
		BucketPeriod: window / 10,
		Timeout:      time.Duration(c.Cooldown),
		ReadyToTrip: func(n gobreaker.Counts) bool {
			if c.Failures > 0 && int(n.ConsecutiveFailures) >= c.Failures {
				return true
			}
			completed := n.TotalFailures + n.TotalSuccesses
			return c.FailureRatio > 0 && int(completed) >= c.MinRequests &&
				float64(n.TotalFailures) >= c.FailureRatio*float64(completed)
		},
		IsExcluded: func(err error) bool {
			if errors.Is(err, Abandoned) {
				return true
			}
			var e *unified.Error
			return errors.As(err, &e) && e != nil && e.Kind == unified.KindInternal // the gateway's own bug
		},
		IsSuccessful: func(err error) bool {
			if err == nil {
				return true
			}
			var e *unified.Error
			return errors.As(err, &e) && e != nil && !ProviderFailure(e) // the provider answered; the request was at fault
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openedAt.Store(time.Now().UnixNano())
			}
			log := caddy.Log().Named("xjp_gateway.breaker")
			level := log.Info
			if to == gobreaker.StateOpen {
				level = log.Warn
			}
			level("circuit breaker changed state", zap.String("route", name),
				zap.String("from", from.String()), zap.String("to", to.String()))
		},
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](settings)
	return b
}

// breakers holds every route's breaker across config reloads.
var breakers = caddy.NewUsagePool()

// AcquireBreaker returns the breaker of the route called name (e.g.
// "provider/model", shown in logs) at endpoint (e.g. the provider's base
// URL, which may hold credentials and is never logged), with settings c.
// It is shared with every config loaded now that has the same route,
// endpoint and settings. The second result releases it (call it from
// Cleanup; a second call does nothing). A reload that keeps a route's
// endpoint and settings keeps its state; new settings start a new
// breaker, closed.
func AcquireBreaker(name, endpoint string, c BreakerConfig) (*Breaker, func() error, error) {
	c, err := c.resolved()
	if err != nil {
		return nil, nil, err
	}
	settings, _ := json.Marshal(c)
	h := sha256.New()
	h.Write([]byte(endpoint))
	h.Write([]byte{0})
	h.Write(settings)
	key := name + "|" + hex.EncodeToString(h.Sum(nil)[:8])
	v, _, err := breakers.LoadOrNew(key, func() (caddy.Destructor, error) { return newBreaker(name, c), nil })
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return v.(*Breaker), func() error {
		var err error
		once.Do(func() { _, err = breakers.Delete(key) })
		return err
	}, nil
}
