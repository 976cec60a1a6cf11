// Package idempotency makes a retried request safe: the first request
// with an idempotency key runs, and a later one from the same tenant with
// the same key and body gets the stored response replayed instead of
// running again. Duplicates that arrive while the first still runs wait
// for it and share its result, so the upstream is called once.
//
// A Store keeps claims and responses: Memory for one process, Redis for
// gateways that share a Redis. Failed results are handed to the waiters
// of the moment but never stored, so that a later retry runs again.
package idempotency

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"time"
)

// Key names an idempotent request: a hash of its tenant and the client's
// key, so that tenants never share responses and stores never hold keys.
type Key [32]byte

// NewKey is the Key of a client key within a tenant.
func NewKey(tenant, key string) Key {
	h := sha256.New()
	var n [8]byte
	for i, l := 0, len(tenant); i < 8; i, l = i+1, l>>8 {
		n[i] = byte(l)
	}
	h.Write(n[:]) // the tenant's length keeps ("ab","c") apart from ("a","bc")
	h.Write([]byte(tenant))
	h.Write([]byte(key))
	var k Key
	h.Sum(k[:0])
	return k
}

// Fingerprint identifies what a request asks: its dialect and its body.
// The same key with another fingerprint is a conflict.
type Fingerprint [32]byte

// NewFingerprint is the fingerprint of a body sent in a dialect.
func NewFingerprint(dialect string, body []byte) Fingerprint {
	h := sha256.New()
	h.Write([]byte(dialect))
	h.Write([]byte{0})
	h.Write(body)
	var f Fingerprint
	h.Sum(f[:0])
	return f
}

// Response is a stored answer: its status, the headers worth replaying,
// and its body (for a stream, the whole event stream as it was sent).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	// RequestID is the gateway's id of the request that produced it.
	RequestID string
}

// ReplayedHeaders are the response headers a replay repeats. The others
// belong to the request being answered (its id, its rate-limit state).
var ReplayedHeaders = []string{
	"Content-Type", "Cache-Control", "X-Accel-Buffering",
	"X-Xjp-Provider", "X-Xjp-Upstream-Model", "X-Xjp-Token-Count",
	"Request-Id", "Retry-After", "Retry-After-Ms", "X-Should-Retry",
}

// size is what r costs a store, roughly.
func (r *Response) size() int64 {
	n := len(r.Body) + len(r.RequestID) + 64
	for k, vs := range r.Header {
		n += len(k)
		for _, v := range vs {
			n += len(v) + 16
		}
	}
	return int64(n)
}

// ErrConflict means the key was used before with another request body.
var ErrConflict = errors.New("idempotency key reused with a different request")

// Store keeps claims on running requests and their responses.
type Store interface {
	// Begin claims key for a request with fingerprint fp. When another
	// request holds the key, Begin waits for its result. It returns
	// either a claim, which the caller must end, or a response to replay;
	// or ErrConflict, or the store's or ctx's error.
	Begin(ctx context.Context, key Key, fp Fingerprint) (Claim, *Response, error)
}

// Claim is the right to run a request. Exactly one of its methods ends
// it; calls after the first do nothing, so that a deferred Abandon is a
// safe net.
type Claim interface {
	// Complete stores resp for ttl and hands it to the waiting requests.
	Complete(resp *Response, ttl time.Duration) error
	// Fail hands resp to the requests waiting now without storing it, so
	// that a later retry runs again.
	Fail(resp *Response) error
	// Abandon ends the claim without a result (the client left, or the
	// response was too large to keep): a waiting request runs itself.
	Abandon() error
}
