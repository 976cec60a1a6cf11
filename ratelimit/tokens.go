package ratelimit

import (
	"math"
	"sync"
	"time"
)

// TokenDecision is the outcome of a token-per-minute admission.
type TokenDecision struct {
	Allowed bool
	// Remaining is how many tokens the key may spend right now.
	Remaining int
	// Reset is how long until the key's token budget is whole again.
	Reset time.Duration
	// RetryAfter is how long a refused request should wait.
	RetryAfter time.Duration
}

// tokenBucket is one key's tokens-per-minute budget, kept the way the
// Redis script keeps it (GCRA): tat is the time at which the budget is
// whole again. A request's estimate is charged at admission and the
// difference with its real use at settlement, so that the bucket can
// also run into debt, which later requests wait out.
type tokenBucket struct {
	mu       sync.Mutex
	tat      time.Time
	lastUsed time.Time
}

// TokenCharge is the most a single admission charges to a budget of tpm
// tokens per minute: a request larger than a whole minute's budget
// still passes once the budget is whole (and puts the key in debt when
// it settles), instead of never.
func TokenCharge(tokens, tpm int) int { return max(0, min(tokens, tpm)) }

// AdmitTokens charges tokens (an estimate) to key id's budget of tpm
// tokens per minute, if the budget has room for them.
func (r *Registry) AdmitTokens(id string, tpm, tokens int, now time.Time) TokenDecision {
	tpm = max(tpm, 1)
	b := r.bucket(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastUsed = now
	per := perToken(tpm)
	tat := maxTime(b.tat, now)
	next := tat.Add(time.Duration(TokenCharge(tokens, tpm)) * per)
	var d TokenDecision
	if over := next.Sub(now) - time.Minute; over > 0 {
		d.RetryAfter = over
		next = tat
	} else {
		d.Allowed = true
		b.tat = next
	}
	d.Reset = next.Sub(now)
	d.Remaining = tokensLeft(d.Reset, per)
	return d
}

// SettleTokens corrects key id's budget by delta tokens: the real use of
// an admitted request minus what its admission charged.
func (r *Registry) SettleTokens(id string, tpm, delta int, now time.Time) {
	if delta == 0 {
		return
	}
	b := r.bucket(id)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastUsed = now
	b.tat = maxTime(b.tat, now).Add(time.Duration(delta) * perToken(max(tpm, 1)))
	if b.tat.Before(now) {
		b.tat = now
	}
}

func (r *Registry) bucket(id string) *tokenBucket {
	v, ok := r.tokens.Load(id)
	if !ok {
		v, _ = r.tokens.LoadOrStore(id, &tokenBucket{})
	}
	return v.(*tokenBucket)
}

// sweepTokens forgets budgets that are whole again and idle.
func (r *Registry) sweepTokens(now time.Time) {
	r.tokens.Range(func(k, v any) bool {
		b := v.(*tokenBucket)
		b.mu.Lock()
		idle := now.Sub(b.lastUsed) >= idleAfter && !b.tat.After(now)
		b.mu.Unlock()
		if idle {
			r.tokens.CompareAndDelete(k, v)
		}
		return true
	})
}

// perToken is the time one token of a tpm budget takes to come back.
func perToken(tpm int) time.Duration { return time.Minute / time.Duration(tpm) }

// tokensLeft is the budget left when it is whole again after reset.
func tokensLeft(reset, per time.Duration) int {
	left := float64(time.Minute-reset) / float64(per)
	return max(0, int(math.Floor(left+1e-9)))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
