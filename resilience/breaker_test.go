package resilience

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

var (
	fail503   = &unified.Error{Kind: unified.KindOverloaded, UpstreamStatus: 503, Retryable: true}
	badInput  = &unified.Error{Kind: unified.KindInvalidRequest, UpstreamStatus: 400}
	gatewayed = &unified.Error{Kind: unified.KindInternal}
)

// call asks b for a call and reports outcome; false when b refused.
func call(b *Breaker, outcome error) bool {
	done, ok := b.Allow()
	if ok {
		done(outcome)
	}
	return ok
}

func acquire(t *testing.T, route string, c BreakerConfig) *Breaker {
	t.Helper()
	b, release, err := AcquireBreaker(route, "http://upstream", c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = release() })
	return b
}

// waitState polls until the cooldown has passed; gobreaker reads the
// wall clock, so the test waits the (short) cooldown itself.
func waitState(t *testing.T, b *Breaker, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("breaker still %s, want %s", b.State(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBreakerOpensAfterConsecutiveFailuresAndRecovers(t *testing.T) {
	b := acquire(t, t.Name(), BreakerConfig{Failures: 3, Cooldown: caddy.Duration(20 * time.Millisecond)})

	// Client mistakes, bugs and abandoned calls do not count.
	for _, outcome := range []error{fail503, fail503, badInput, Abandoned, gatewayed} {
		if !call(b, outcome) {
			t.Fatal("the breaker refused a call while closed")
		}
	}
	// A success in between resets the run of failures; the 400 above
	// counted as one.
	if !call(b, fail503) || !call(b, fail503) || b.Open() {
		t.Fatalf("opened after two failures in a row: %s", b.State())
	}
	if !call(b, fail503) || !b.Open() {
		t.Fatalf("still %s after three failures in a row", b.State())
	}
	if call(b, nil) {
		t.Fatal("an open breaker let a call through")
	}

	waitState(t, b, "half-open")
	done, ok := b.Allow()
	if !ok {
		t.Fatal("a half-open breaker refused its probe")
	}
	if _, ok := b.Allow(); ok {
		t.Fatal("a half-open breaker let a second probe through while the first was out")
	}
	done(nil)
	if b.State() != "closed" {
		t.Fatalf("a successful probe left the breaker %s", b.State())
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	b := acquire(t, t.Name(), BreakerConfig{Failures: 1, Cooldown: caddy.Duration(10 * time.Millisecond), HalfOpen: 2})
	call(b, fail503)
	waitState(t, b, "half-open")
	// An abandoned probe frees its slot without deciding anything.
	if !call(b, Abandoned) || b.State() != "half-open" {
		t.Fatalf("abandoned probe: %s", b.State())
	}
	if !call(b, nil) || b.State() != "half-open" {
		t.Fatalf("one of two probes closed the breaker: %s", b.State())
	}
	if !call(b, fail503) || !b.Open() {
		t.Fatalf("a failed probe left the breaker %s", b.State())
	}
}

func TestBreakerFailureRatio(t *testing.T) {
	b := acquire(t, t.Name(), BreakerConfig{FailureRatio: 0.5, MinRequests: 4, Window: caddy.Duration(time.Hour)})
	// The ratio alone: no consecutive-failure rule.
	call(b, fail503)
	call(b, fail503)
	if b.Open() {
		t.Fatal("opened before min_requests calls completed")
	}
	call(b, nil)
	call(b, nil)
	call(b, nil)
	call(b, fail503) // 3 of 6
	if !b.Open() {
		t.Fatalf("still %s at 3 failures of 6", b.State())
	}
}

func TestBreakerFailureRatioBelowThreshold(t *testing.T) {
	b := acquire(t, t.Name(), BreakerConfig{FailureRatio: 0.5, MinRequests: 4, Window: caddy.Duration(time.Hour)})
	call(b, nil)
	call(b, nil)
	call(b, nil)
	call(b, fail503)
	call(b, fail503) // 2 of 5
	if b.Open() {
		t.Fatal("opened at 2 failures of 5")
	}
}

func TestBreakerPoolSurvivesReloads(t *testing.T) {
	c := BreakerConfig{Failures: 1, Cooldown: caddy.Duration(time.Hour)}
	old, releaseOld, err := AcquireBreaker("p/m", "http://u", c)
	if err != nil {
		t.Fatal(err)
	}
	call(old, fail503)

	// The new config is provisioned before the old one is cleaned up.
	same, releaseSame, _ := AcquireBreaker("p/m", "http://u", c)
	changed, releaseChanged, _ := AcquireBreaker("p/m", "http://u", BreakerConfig{Failures: 2, Cooldown: caddy.Duration(time.Hour)})
	other, releaseOther, _ := AcquireBreaker("p/other", "http://u", c)
	_ = releaseOld()
	defer releaseSame()
	defer releaseChanged()
	defer releaseOther()

	if same != old || !same.Open() {
		t.Error("a reload with the same settings lost the breaker's state")
	}
	if changed == old || changed.Open() {
		t.Error("new settings did not start a new, closed breaker")
	}
	if other.Open() {
		t.Error("another upstream model shares the breaker")
	}
	elsewhere, releaseElsewhere, _ := AcquireBreaker("p/m", "http://v", c)
	defer releaseElsewhere()
	if elsewhere.Open() {
		t.Error("another endpoint shares the breaker")
	}
	if _, _, err := AcquireBreaker("x", "", BreakerConfig{FailureRatio: 2}); err == nil {
		t.Error("a failure ratio of 2 was accepted")
	}
}

func TestNilBreakerAllowsEverything(t *testing.T) {
	var b *Breaker
	if !call(b, fail503) || b.Open() || b.State() != "closed" {
		t.Error("a nil breaker refused a call")
	}
}
