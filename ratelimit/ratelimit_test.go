package ratelimit

import (
	"net/http"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestAllowBurstThenRate(t *testing.T) {
	r := &Registry{}
	type want struct {
		allowed    bool
		remaining  int
		reset      time.Duration
		retryAfter time.Duration
	}
	steps := []struct {
		at   time.Duration
		want want
	}{
		{0, want{true, 1, time.Second, 0}},
		{0, want{true, 0, 2 * time.Second, 0}},
		{0, want{false, 0, 2 * time.Second, time.Second}},
		{500 * time.Millisecond, want{false, 0, 1500 * time.Millisecond, 500 * time.Millisecond}},
		{time.Second, want{true, 0, 2 * time.Second, 0}},
		{5 * time.Second, want{true, 1, time.Second, 0}},
	}
	for i, s := range steps {
		d := r.Allow("k", 60, 2, t0.Add(s.at))
		got := want{d.Allowed, d.Remaining, d.Reset, d.RetryAfter}
		if got != s.want || d.Limit != 60 {
			t.Errorf("step %d at +%v: got %+v limit %d, want %+v", i, s.at, got, d.Limit, s.want)
		}
	}
	// Keys do not share buckets.
	if d := r.Allow("other", 60, 2, t0); !d.Allowed || d.Remaining != 1 {
		t.Errorf("another key: %+v", d)
	}
}

func TestAllowAppliesNewLimitsInPlace(t *testing.T) {
	r := &Registry{}
	for range 3 {
		r.Allow("k", 60, 3, t0)
	}
	// The bucket is empty; a higher rate refills it faster but does not
	// refill it at once.
	if d := r.Allow("k", 600, 3, t0); d.Allowed || d.Limit != 600 || d.RetryAfter != 100*time.Millisecond {
		t.Errorf("after raising the limit: %+v", d)
	}
	if d := r.Allow("k", 600, 3, t0.Add(100*time.Millisecond)); !d.Allowed {
		t.Errorf("100ms later at 10/s: %+v", d)
	}
}

func TestSweepForgetsOnlyRefilledIdleLimiters(t *testing.T) {
	r := &Registry{}
	r.Allow("idle", 60, 1, t0)
	r.Allow("busy", 1, 5, t0) // 1 rpm: takes 60 s per token to refill
	r.Allow("busy", 1, 5, t0)
	r.sweep(t0.Add(30 * time.Second))
	if r.Len() != 2 {
		t.Fatalf("swept a limiter used 30s ago: %d left", r.Len())
	}
	r.sweep(t0.Add(idleAfter))
	if _, ok := r.limiters.Load("idle"); ok {
		t.Error("a refilled idle limiter was kept")
	}
	if _, ok := r.limiters.Load("busy"); !ok {
		t.Error("a limiter still refilling was dropped: its state would be lost")
	}
}

func TestSetHeaders(t *testing.T) {
	allowed := Decision{Allowed: true, Limit: 60, Remaining: 9, Reset: 1500 * time.Millisecond}
	refused := Decision{Limit: 60, Remaining: 0, Reset: 10 * time.Second, RetryAfter: 1200 * time.Millisecond}
	tokensOnly := Decision{Allowed: true, Tokens: TokenState{Limit: 1000, Remaining: 250, Reset: 45 * time.Second}}
	for _, tc := range []struct {
		name    string
		dialect string
		d       Decision
		want    map[string]string
	}{
		{"openai allowed", "openai", allowed, map[string]string{
			"X-Ratelimit-Limit-Requests": "60", "X-Ratelimit-Remaining-Requests": "9",
			"X-Ratelimit-Reset-Requests": "1.5s", "Retry-After": "",
		}},
		{"openai refused", "openai", refused, map[string]string{
			"X-Ratelimit-Remaining-Requests": "0", "X-Ratelimit-Reset-Requests": "10s",
			"Retry-After": "2", "Retry-After-Ms": "1200",
		}},
		{"anthropic allowed", "anthropic", allowed, map[string]string{
			"Anthropic-Ratelimit-Requests-Limit": "60", "Anthropic-Ratelimit-Requests-Remaining": "9",
			"Anthropic-Ratelimit-Requests-Reset": "2025-03-01T12:00:01Z", "X-Ratelimit-Limit-Requests": "",
		}},
		{"anthropic refused", "anthropic", refused, map[string]string{
			"Anthropic-Ratelimit-Requests-Reset": "2025-03-01T12:00:10Z", "Retry-After": "2",
		}},
		{"openai tokens only", "openai", tokensOnly, map[string]string{
			"X-Ratelimit-Limit-Tokens": "1000", "X-Ratelimit-Remaining-Tokens": "250",
			"X-Ratelimit-Reset-Tokens": "45s", "X-Ratelimit-Limit-Requests": "",
		}},
		{"anthropic tokens only", "anthropic", tokensOnly, map[string]string{
			"Anthropic-Ratelimit-Tokens-Limit": "1000", "Anthropic-Ratelimit-Tokens-Remaining": "250",
			"Anthropic-Ratelimit-Tokens-Reset": "2025-03-01T12:00:45Z", "Anthropic-Ratelimit-Requests-Limit": "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			SetHeaders(h, tc.dialect, tc.d, t0)
			for k, v := range tc.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestFormatReset(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                          "0s",
		-time.Second:               "0s",
		300 * time.Microsecond:     "1ms",
		17 * time.Millisecond:      "17ms",
		time.Second:                "1s",
		6 * time.Minute:            "6m0s",
		1234567 * time.Microsecond: "1.235s",
	} {
		if got := FormatReset(d); got != want {
			t.Errorf("FormatReset(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAcquireSharesOneRegistry(t *testing.T) {
	a, releaseA, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	b, releaseB, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("two registries in one process: a reload would reset every bucket")
	}
	a.Allow("k", 60, 1, t0)
	// A reload: the new configuration acquires before the old releases.
	releaseA()
	releaseA() // idempotent
	c, releaseC, _ := Acquire()
	if c != b {
		t.Fatal("registry replaced while still in use")
	}
	releaseB()
	releaseC()
}

// The limiter's cost per request, for keys spread over many goroutines.
func BenchmarkAllow(b *testing.B) {
	r := &Registry{}
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Allow(keys[i%len(keys)], 1<<20, 1<<20, time.Now())
			i++
		}
	})
}
