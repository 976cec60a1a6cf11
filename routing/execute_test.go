package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

var (
	err503 = &unified.Error{Kind: unified.KindOverloaded, UpstreamStatus: 503, Retryable: true, Message: "overloaded"}
	err400 = &unified.Error{Kind: unified.KindInvalidRequest, UpstreamStatus: 400, Message: "bad"}
)

// script answers each call with the next outcome for its provider and
// records the calls as "provider#try" (with a * for a fallback).
type script struct {
	outcomes map[string][]error
	calls    []string
}

func (s *script) call(_ context.Context, a Attempt) (bool, error) {
	name := fmt.Sprintf("%s#%d", a.Route.Provider, a.Try)
	if a.Fallback {
		name += "*"
	}
	s.calls = append(s.calls, name)
	out := s.outcomes[a.Route.Provider]
	if len(out) == 0 {
		return true, nil
	}
	s.outcomes[a.Route.Provider] = out[1:]
	if out[0] == nil {
		return true, nil
	}
	return false, out[0]
}

// sleeps records the waits of a retry policy instead of sleeping.
func sleeps(p *resilience.RetryPolicy) *[]time.Duration {
	var waits []time.Duration
	p.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	p.Jitter = func(n int64) int64 { return n - 1 }
	return &waits
}

func retrying(attempts int) resilience.RetryPolicy {
	p := resilience.DefaultRetry
	p.Attempts = attempts
	p.Initial, p.Max = 10*time.Millisecond, 40*time.Millisecond
	return p
}

func routes(names ...string) []Route {
	var rs []Route
	for _, n := range names {
		rs = append(rs, Route{Provider: n})
	}
	return rs
}

func TestExecuteRetriesThenSucceeds(t *testing.T) {
	m := &Model{Name: "m", Primary: routes("a"), Fallbacks: routes("b"), Retry: retrying(3)}
	waits := sleeps(&m.Retry)
	s := &script{outcomes: map[string][]error{"a": {err503, err503, nil}}}
	if err := m.Execute(context.Background(), s.call); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.calls, " "); got != "a#1 a#2 a#3" {
		t.Errorf("calls = %s, want exactly three calls of a", got)
	}
	if fmt.Sprint(*waits) != "[10ms 20ms]" {
		t.Errorf("waits = %v, want exponential backoff", *waits)
	}
}

func TestExecuteHonoursRetryAfter(t *testing.T) {
	m := &Model{Name: "m", Primary: routes("a"), Retry: retrying(2)}
	waits := sleeps(&m.Retry)
	e429 := &unified.Error{Kind: unified.KindRateLimit, UpstreamStatus: 429, Retryable: true, RetryAfter: 1500 * time.Millisecond}
	s := &script{outcomes: map[string][]error{"a": {e429, nil}}}
	if err := m.Execute(context.Background(), s.call); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*waits) != "[1.5s]" || len(s.calls) != 2 {
		t.Errorf("waits %v, calls %v", *waits, s.calls)
	}
}

func TestExecuteFallsBackAfterRetries(t *testing.T) {
	m := &Model{Name: "m", Primary: routes("a"), Fallbacks: routes("b", "c"), Retry: retrying(2)}
	sleeps(&m.Retry)
	connect := &unified.Error{Kind: unified.KindUpstream, Retryable: true}
	quota := &unified.Error{Kind: unified.KindQuota, UpstreamStatus: 429} // not passing: no retry
	s := &script{outcomes: map[string][]error{"a": {err503, connect}, "b": {quota}}}
	if err := m.Execute(context.Background(), s.call); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.calls, " "); got != "a#1 a#2 b#1* c#1*" {
		t.Errorf("calls = %s", got)
	}
}

func TestExecuteMovesOnWhenRetryAfterExceedsTheBudget(t *testing.T) {
	m := &Model{Name: "m", Primary: routes("a"), Fallbacks: routes("b"), Retry: retrying(3)}
	waits := sleeps(&m.Retry)
	e429 := &unified.Error{Kind: unified.KindRateLimit, UpstreamStatus: 429, Retryable: true, RetryAfter: time.Hour}
	s := &script{outcomes: map[string][]error{"a": {e429}}}
	if err := m.Execute(context.Background(), s.call); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.calls, " "); got != "a#1 b#1*" || len(*waits) != 0 {
		t.Errorf("calls = %s, waits %v", got, *waits)
	}
}

func TestExecuteStopsOnTheClientsMistake(t *testing.T) {
	m := &Model{Name: "m", Primary: routes("a"), Fallbacks: routes("b"), Retry: retrying(3)}
	s := &script{outcomes: map[string][]error{"a": {err400}}}
	if err := m.Execute(context.Background(), s.call); err != err400 {
		t.Fatalf("err = %v", err)
	}
	if len(s.calls) != 1 {
		t.Errorf("calls = %v", s.calls)
	}
}

func TestExecuteReportsTheLastFailure(t *testing.T) {
	m := &Model{Name: "m", Primary: routes("a"), Fallbacks: routes("b")}
	last := &unified.Error{Kind: unified.KindTimeout, Retryable: true}
	s := &script{outcomes: map[string][]error{"a": {err503}, "b": {last}}}
	if err := m.Execute(context.Background(), s.call); err != last {
		t.Fatalf("err = %v", err)
	}
}

func TestExecuteNeverRetriesACommittedAnswer(t *testing.T) {
	m := &Model{Name: "m", Primary: routes("a"), Fallbacks: routes("b"), Retry: retrying(3)}
	calls := 0
	err := m.Execute(context.Background(), func(context.Context, Attempt) (bool, error) {
		calls++
		return true, err503 // broke off after the first byte
	})
	if err != nil || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestExecuteStopsWhenTheClientLeaves(t *testing.T) {
	m := &Model{Name: "m", Primary: routes("a"), Fallbacks: routes("b"), Retry: retrying(3)}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	m.Execute(ctx, func(context.Context, Attempt) (bool, error) {
		calls++
		cancel()
		return false, context.Canceled
	})
	if calls != 1 {
		t.Errorf("%d calls after the client left", calls)
	}
}

func breaker(t *testing.T, failures int, cooldown time.Duration) *resilience.Breaker {
	t.Helper()
	b, release, err := resilience.AcquireBreaker(t.Name()+fmt.Sprint(failures, cooldown), "",
		resilience.BreakerConfig{Failures: failures, Cooldown: caddy.Duration(cooldown)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = release() })
	return b
}

func TestExecuteSkipsAnOpenBreaker(t *testing.T) {
	a := Route{Provider: "a", Breaker: breaker(t, 2, time.Hour)}
	m := &Model{Name: "m", Primary: []Route{a}, Fallbacks: routes("b")}
	s := &script{outcomes: map[string][]error{"a": {err503, err503, err400}}}
	for range 3 {
		if err := m.Execute(context.Background(), s.call); err != nil {
			t.Fatal(err)
		}
	}
	// Two failures open a's breaker; the third request goes to b at once.
	if got := strings.Join(s.calls, " "); got != "a#1 b#1* a#1 b#1* b#1*" {
		t.Errorf("calls = %s", got)
	}
	if len(s.outcomes["a"]) != 1 {
		t.Error("the open route was called")
	}
}

func TestExecuteAllRoutesOpen(t *testing.T) {
	a := Route{Provider: "a", Breaker: breaker(t, 1, time.Hour)}
	m := &Model{Name: "m", Primary: []Route{a}}
	s := &script{outcomes: map[string][]error{"a": {err503}}}
	if err := m.Execute(context.Background(), s.call); err != err503 {
		t.Fatalf("first request: %v", err)
	}
	err := m.Execute(context.Background(), s.call)
	if err == nil || err.Kind != unified.KindUnavailable || !strings.Contains(err.Message, `"m"`) {
		t.Fatalf("with every breaker open: %v", err)
	}
	// The client may try again when the breaker lets a probe through: in
	// about an hour, not sooner.
	if err.RetryAfter <= 59*time.Minute || err.RetryAfter > time.Hour {
		t.Errorf("RetryAfter = %v, want the breaker's remaining cooldown", err.RetryAfter)
	}
	if len(s.calls) != 1 {
		t.Errorf("calls = %v", s.calls)
	}
}

func TestExecuteBreakerCountsTheAttempt(t *testing.T) {
	b := breaker(t, 1, time.Hour)
	m := &Model{Name: "m", Primary: []Route{{Provider: "a", Breaker: b}}}
	// A stream that broke after it began counts against the provider.
	m.Execute(context.Background(), func(context.Context, Attempt) (bool, error) { return true, err503 })
	if !b.Open() {
		t.Error("a broken stream did not count")
	}

	b2 := breaker(t, 1, 2*time.Hour)
	m2 := &Model{Name: "m", Primary: []Route{{Provider: "a", Breaker: b2}}}
	ctx, cancel := context.WithCancel(context.Background())
	m2.Execute(ctx, func(context.Context, Attempt) (bool, error) { cancel(); return false, err503 })
	if b2.Open() {
		t.Error("an attempt the client abandoned counted")
	}
	m2.Execute(context.Background(), func(context.Context, Attempt) (bool, error) { return false, err400 })
	if b2.Open() {
		t.Error("the client's bad request counted")
	}
	m2.Execute(context.Background(), func(context.Context, Attempt) (bool, error) {
		return false, errors.New("a bug")
	})
	if b2.Open() {
		t.Error("the gateway's own failure counted")
	}
}

func TestPickHonoursWeights(t *testing.T) {
	m := &Model{Name: "m", Primary: []Route{{Provider: "a", Weight: 3}, {Provider: "b"}, {Provider: "c", Weight: 2}}}
	count := map[string]int{}
	var firsts []string
	for i := range 600 {
		plan := m.Plan()
		count[plan[0].Provider]++
		if i < 6 {
			firsts = append(firsts, plan[0].Provider)
		}
		if len(plan) != 3 {
			t.Fatalf("plan = %v", plan)
		}
	}
	if count["a"] != 300 || count["b"] != 100 || count["c"] != 200 {
		t.Errorf("picks = %v, want 300/100/200", count)
	}
	// Smooth: the heavy route's turns are spread out.
	if got := strings.Join(firsts, ""); got != "acabca" {
		t.Errorf("first six picks = %s", got)
	}
}

func TestPlanOrder(t *testing.T) {
	m := &Model{Name: "m", Primary: []Route{{Provider: "a"}, {Provider: "b"}, {Provider: "c"}}, Fallbacks: routes("x", "y")}
	var plans []string
	for range 3 {
		var names []string
		for _, r := range m.Plan() {
			names = append(names, r.Provider)
		}
		plans = append(plans, strings.Join(names, ""))
	}
	// The picked primary, the other primaries in order, the fallbacks.
	if got := strings.Join(plans, " "); got != "abcxy bacxy cabxy" {
		t.Errorf("plans = %s", got)
	}
}

func TestPickPassesOverOpenBreakers(t *testing.T) {
	open := breaker(t, 1, time.Hour)
	done, _ := open.Allow()
	done(err503)
	m := &Model{Name: "m", Primary: []Route{{Provider: "a", Weight: 5, Breaker: open}, {Provider: "b"}, {Provider: "c"}}}
	count := map[string]int{}
	for range 100 {
		count[m.Plan()[0].Provider]++
	}
	if count["a"] != 0 || count["b"] != 50 || count["c"] != 50 {
		t.Errorf("picks = %v", count)
	}

	all := &Model{Name: "m", Primary: []Route{{Provider: "a", Breaker: open}, {Provider: "b", Breaker: open}}}
	if all.Plan()[0].Provider != "a" {
		t.Error("with every primary open, the plan does not start with the first")
	}
}
