// Package usage keeps the gateway's accounts: one usage-log row per
// request, and the per-key, per-UTC-day token counters that daily quotas
// are checked against. Both live in PostgreSQL and are written off the
// request path, in batches, by a Ledger.
package usage

import (
	"context"
	"time"
)

// Record is what one request used: a row of usage_logs.
type Record struct {
	// Time is when the request arrived.
	Time      time.Time
	RequestID string
	Tenant    string
	// KeyID is the API key's id (a UUID).
	KeyID string
	// Model is the public model name the client asked for.
	Model string
	// Provider and UpstreamModel name the route that served, or the last
	// one tried.
	Provider      string
	UpstreamModel string
	// Dialect is the client's API dialect (openai, anthropic).
	Dialect string
	// Status is the HTTP status of the outcome; for a stream that broke
	// after it started, the status of the error that ended it.
	Status           int
	PromptTokens     int
	CompletionTokens int
	CachedTokens     int
	// Latency is the request's whole duration in the gateway.
	Latency time.Duration
	// TTFT is the time from arrival to the first token of a streamed
	// answer; zero when there was none.
	TTFT     time.Duration
	Attempts int
}

// Tokens is what the request costs against a daily quota: prompt plus
// completion tokens.
func (r *Record) Tokens() int64 { return int64(r.PromptTokens) + int64(r.CompletionTokens) }

// Accountant is the gateway's view of a ledger.
type Accountant interface {
	// Begin announces a request that will be recorded. Every Begin is
	// followed by exactly one Record; a ledger closed meanwhile waits for
	// the requests it has begun before it drains.
	Begin()
	// Record charges the request's tokens to its key's counter for the
	// current UTC day and queues its usage row. It never blocks: when the
	// queue is full the row is dropped (and counted), the charge is not.
	Record(rec *Record)
	// TokensToday returns the tokens the key used in the current UTC
	// day, as far as this instance knows. It answers from memory, except
	// for the first question about a key, which reads the database.
	TokensToday(ctx context.Context, keyID string) (int64, error)
}

// Provider is implemented by key stores that keep accounts (the postgres
// store); the gateway records usage and enforces daily quotas through it.
type Provider interface {
	Accountant() Accountant
}

// isUUID reports whether s is a UUID in its canonical text form: only
// such keys have rows in the database to charge.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
