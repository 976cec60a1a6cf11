package resilience

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func TestConditionsMatch(t *testing.T) {
	status := func(s int, k unified.Kind) *unified.Error {
		return &unified.Error{Kind: k, UpstreamStatus: s, Retryable: true}
	}
	tests := []struct {
		name string
		on   []string
		err  *unified.Error
		want bool
	}{
		{"503 listed", []string{"503"}, status(503, unified.KindOverloaded), true},
		{"503 not listed", []string{"502"}, status(503, unified.KindOverloaded), false},
		{"529 as overloaded", []string{"overloaded"}, status(529, unified.KindOverloaded), true},
		{"overloaded event in a stream", []string{"overloaded"}, &unified.Error{Kind: unified.KindOverloaded, Retryable: true}, true},
		{"overloaded event, 529 not listed", []string{"503"}, &unified.Error{Kind: unified.KindOverloaded, Retryable: true}, false},
		{"rate-limit event in a stream", []string{"429"}, &unified.Error{Kind: unified.KindRateLimit, Retryable: true}, true},
		{"timeout", []string{"timeout"}, &unified.Error{Kind: unified.KindTimeout, Retryable: true}, true},
		{"timeout not listed", []string{"connect"}, &unified.Error{Kind: unified.KindTimeout, Retryable: true}, false},
		{"504 is a status, not a timeout", []string{"timeout"}, status(504, unified.KindTimeout), false},
		{"connection refused", []string{"connect"}, &unified.Error{Kind: unified.KindUpstream, Retryable: true}, true},
		{"connect not listed", []string{"500"}, &unified.Error{Kind: unified.KindUpstream, Retryable: true}, false},
		{"429 for exhausted credit is not passing", []string{"429"}, &unified.Error{Kind: unified.KindQuota, UpstreamStatus: 429}, false},
		{"400 never", []string{"connect", "timeout", "500"}, &unified.Error{Kind: unified.KindInvalidRequest, UpstreamStatus: 400}, false},
		{"nil", []string{"500"}, nil, false},
	}
	for _, tt := range tests {
		c, err := ParseConditions(tt.on)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Match(tt.err); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, bad := range []string{"404", "200", "600", "soon", ""} {
		if _, err := ParseConditions([]string{bad}); err == nil {
			t.Errorf("condition %q accepted", bad)
		}
	}
	if !DefaultConditions.Match(status(529, unified.KindOverloaded)) || DefaultConditions.Match(status(501, unified.KindUpstream)) {
		t.Error("default conditions are not connect timeout 429 500 502 503 504 529")
	}
}

// maxJitter makes full jitter wait its whole ceiling.
func maxJitter(n int64) int64 { return n - 1 }

func TestRetryWait(t *testing.T) {
	p := RetryPolicy{Attempts: 5, Initial: 100 * time.Millisecond, Max: 350 * time.Millisecond,
		TryDuration: 10 * time.Second, On: DefaultConditions, Jitter: maxJitter}
	e503 := &unified.Error{Kind: unified.KindOverloaded, UpstreamStatus: 503, Retryable: true}

	var waits []time.Duration
	for try := 1; ; try++ {
		d, ok := p.Wait(try, e503, 0)
		if !ok {
			if try != 5 {
				t.Errorf("stopped after try %d, want 5", try)
			}
			break
		}
		waits = append(waits, d)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 350 * time.Millisecond, 350 * time.Millisecond}
	if len(waits) != len(want) {
		t.Fatalf("waits = %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait %d = %v, want %v (exponential, capped)", i+1, waits[i], want[i])
		}
	}

	// Full jitter: the wait is drawn from [0, ceiling].
	var asked int64
	p.Jitter = func(n int64) int64 { asked = n; return 7 }
	if d, _ := p.Wait(2, e503, 0); d != 7 || asked != int64(200*time.Millisecond)+1 {
		t.Errorf("jittered wait = %v from [0, %v)", d, time.Duration(asked))
	}

	// Retry-After wins when it is longer.
	e429 := &unified.Error{Kind: unified.KindRateLimit, UpstreamStatus: 429, Retryable: true, RetryAfter: 3 * time.Second}
	if d, ok := p.Wait(1, e429, 0); !ok || d != 3*time.Second {
		t.Errorf("Retry-After: wait %v, %v", d, ok)
	}
	// ... unless it ends after the budget: move on instead.
	if _, ok := p.Wait(1, e429, 8*time.Second); ok {
		t.Error("a wait past try_duration was accepted")
	}
	e429.RetryAfter = time.Hour
	if _, ok := p.Wait(1, e429, 0); ok {
		t.Error("an hour's Retry-After was accepted within a 10s budget")
	}

	// Not a condition, not passing, or the zero policy: no retry.
	if _, ok := p.Wait(1, &unified.Error{Kind: unified.KindUpstream, UpstreamStatus: 501, Retryable: true}, 0); ok {
		t.Error("501 retried")
	}
	var zero RetryPolicy
	if _, ok := zero.Wait(1, e503, 0); ok {
		t.Error("the zero policy retried")
	}
}

func TestRetryBackoffDoesNotOverflow(t *testing.T) {
	p := RetryPolicy{Attempts: 200, Initial: time.Hour, Max: 2 * time.Hour, On: DefaultConditions, Jitter: maxJitter}
	e := &unified.Error{Kind: unified.KindUpstream, Retryable: true}
	if d, ok := p.Wait(150, e, 0); !ok || d != 2*time.Hour {
		t.Errorf("wait = %v, %v", d, ok)
	}
}

func TestRetryOver(t *testing.T) {
	gw := &Retry{Attempts: 3, Backoff: &Backoff{Initial: caddy.Duration(time.Second)}, On: []string{"503"}}
	base, err := gw.Over(DefaultRetry)
	if err != nil {
		t.Fatal(err)
	}
	if base.Attempts != 3 || base.Initial != time.Second || base.Max != DefaultBackoffMax || base.TryDuration != DefaultTryDuration {
		t.Errorf("gateway policy = %+v", base)
	}
	model := &Retry{Attempts: 1, TryDuration: caddy.Duration(time.Minute)}
	m, err := model.Over(base)
	if err != nil {
		t.Fatal(err)
	}
	if m.Attempts != 1 || m.Initial != time.Second || m.TryDuration != time.Minute || m.On != base.On {
		t.Errorf("model policy = %+v", m)
	}
	var none *Retry
	if p, _ := none.Over(DefaultRetry); p.Attempts != 1 || p.On != DefaultConditions {
		t.Errorf("no retry block = %+v", p)
	}
	for _, bad := range []*Retry{
		{Attempts: -1},
		{Backoff: &Backoff{Initial: caddy.Duration(time.Minute)}}, // above the default max
		{On: []string{"418"}},
		{TryDuration: -1},
	} {
		if _, err := bad.Over(DefaultRetry); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestPause(t *testing.T) {
	var p RetryPolicy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Pause(ctx, time.Hour); err == nil {
		t.Error("a pause outlived its context")
	}
	if err := p.Pause(context.Background(), time.Microsecond); err != nil {
		t.Error(err)
	}
	var slept time.Duration
	p.Sleep = func(_ context.Context, d time.Duration) error { slept = d; return nil }
	if err := p.Pause(context.Background(), time.Hour); err != nil || slept != time.Hour {
		t.Errorf("injected sleep saw %v", slept)
	}
}

func TestTimeoutsOver(t *testing.T) {
	provider := &Timeouts{FirstByte: caddy.Duration(20 * time.Second), Total: caddy.Duration(time.Minute)}
	model := &Timeouts{FirstByte: -1, StreamIdle: caddy.Duration(time.Second)}
	got := model.Over(provider.Over(DefaultLimits))
	want := Limits{FirstByte: 0, StreamIdle: time.Second, Total: time.Minute}
	if got != want {
		t.Errorf("limits = %+v, want %+v", got, want)
	}
	var none *Timeouts
	if none.Over(DefaultLimits) != DefaultLimits || none.DialTimeout() != 0 {
		t.Error("nil timeouts changed the defaults")
	}
}

func TestProviderFailure(t *testing.T) {
	for k, want := range map[unified.Kind]bool{
		unified.KindUpstream: true, unified.KindOverloaded: true, unified.KindTimeout: true, unified.KindRateLimit: true,
		unified.KindInvalidRequest: false, unified.KindNotFound: false, unified.KindRequestTooLarge: false,
	} {
		if got := ProviderFailure(&unified.Error{Kind: k}); got != want {
			t.Errorf("kind %d: ProviderFailure = %v", k, got)
		}
	}
	if MayFallBack(&unified.Error{Kind: unified.KindInvalidRequest}) || !MayFallBack(&unified.Error{Kind: unified.KindNotFound}) {
		t.Error("MayFallBack")
	}
	if !strings.Contains(Abandoned.Error(), "abandoned") {
		t.Error(Abandoned)
	}
}
