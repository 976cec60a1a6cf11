package idempotency

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a Store in Redis, shared by every gateway that uses the same
// server and prefix. A key's value is either a claim on a running request
// ("P", a random token, the fingerprint), which expires after Lease unless
// the claim's holder renews it, or a stored response ("D", the
// fingerprint, the response), which expires after its TTL. A waiting
// request polls the key until the claim ends; a holder that dies stops
// renewing, so its claim expires and a waiter takes over.
//
// A failed result is left for the waiters of that claim under a key of
// its own token, which no later request knows.
type Redis struct {
	client redis.UniversalClient
	prefix string
	lease  time.Duration
	// Poll is the first wait between two looks at a running claim; the
	// wait doubles up to MaxPoll.
	poll, maxPoll time.Duration
	waiting       func() // tests: called when a duplicate starts to wait
	renewed       func() // tests: called after each renewal of a lease
}

// NewRedis returns a store using client, with keys under prefix.
func NewRedis(client redis.UniversalClient, prefix string, lease time.Duration) *Redis {
	return &Redis{client: client, prefix: prefix, lease: lease, poll: 10 * time.Millisecond, maxPoll: 250 * time.Millisecond}
}

const (
	statePending = 'P'
	stateDone    = 'D'
	tokenSize    = 16
	// failureTTL is how long a failed result waits for the requests that
	// waited on its claim: they look every maxPoll at most.
	failureTTL = 30 * time.Second
	// opTimeout bounds the store's own writes when a claim ends, which
	// must happen even after the client has left.
	opTimeout = 5 * time.Second
)

// The scripts keep each step atomic: a claim is only renewed, settled or
// dropped by the holder whose token it carries.
var (
	// claim: take the key, or return what holds it.
	claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])`)
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)
	completeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0`)
	failScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
	redis.call('DEL', KEYS[1])
	return 1
end
return 0`)
	abandonScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
)

// key is the Redis key of k. The braces make it a hash tag, so that a
// failure key lands in the same cluster slot.
func (s *Redis) key(k Key) string {
	return s.prefix + "{" + hex.EncodeToString(k[:]) + "}"
}

func failureKey(key string, token []byte) string {
	return key + ":failed:" + hex.EncodeToString(token)
}

// Begin implements Store.
func (s *Redis) Begin(ctx context.Context, key Key, fp Fingerprint) (Claim, *Response, error) {
	k := s.key(key)
	claim := make([]byte, 0, 1+tokenSize+len(fp))
	claim = append(claim, statePending)
	claim = append(claim, make([]byte, tokenSize)...)
	_, _ = rand.Read(claim[1 : 1+tokenSize])
	claim = append(claim, fp[:]...)
	for {
		v, err := claimScript.Run(ctx, s.client, []string{k}, claim, s.lease.Milliseconds()).Text()
		if errors.Is(err, redis.Nil) {
			return s.newClaim(k, string(claim)), nil, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("idempotency: claiming a key: %w", err)
		}
		resp, err := s.await(ctx, k, v, fp)
		if resp != nil || err != nil {
			return nil, resp, err
		}
		// The claim ended without a result: claim the key ourselves.
	}
}

// await follows a key held by another request until it holds a response
// for us, or is free again (nil, nil).
func (s *Redis) await(ctx context.Context, k, v string, fp Fingerprint) (*Response, error) {
	if s.waiting != nil {
		s.waiting()
	}
	wait := s.poll
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if len(v) < 1+len(fp) {
			return nil, errCorrupt
		}
		switch v[0] {
		case stateDone:
			if v[1:1+len(fp)] != string(fp[:]) {
				return nil, ErrConflict
			}
			return decodeResponse([]byte(v[1+len(fp):]))
		case statePending:
			if len(v) != 1+tokenSize+len(fp) {
				return nil, errCorrupt
			}
			if v[1+tokenSize:] != string(fp[:]) {
				return nil, ErrConflict
			}
		default:
			return nil, errCorrupt
		}
		token := []byte(v[1 : 1+tokenSize])

		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait = min(2*wait, s.maxPoll)
		timer.Reset(wait)

		var err error
		v, err = s.client.Get(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			// The claim ended: with a failure for its waiters, or
			// without a result (abandoned, or its holder died).
			f, err := s.client.Get(ctx, failureKey(k, token)).Bytes()
			if errors.Is(err, redis.Nil) {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("idempotency: reading a shared failure: %w", err)
			}
			return decodeResponse(f)
		}
		if err != nil {
			return nil, fmt.Errorf("idempotency: reading a key: %w", err)
		}
	}
}

// redisClaim renews its lease from a goroutine until the claim ends.
type redisClaim struct {
	s     *Redis
	key   string
	value string // the claim as stored: state, token, fingerprint
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (s *Redis) newClaim(key, value string) *redisClaim {
	c := &redisClaim{s: s, key: key, value: value, stop: make(chan struct{}), done: make(chan struct{})}
	go c.renew()
	return c
}

func (c *redisClaim) renew() {
	defer close(c.done)
	t := time.NewTicker(c.s.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.s.lease/3)
			n, err := renewScript.Run(ctx, c.s.client, []string{c.key}, c.value, c.s.lease.Milliseconds()).Int()
			cancel()
			if err == nil && n == 0 {
				return // the claim expired and went to another request
			}
			if c.s.renewed != nil {
				c.s.renewed()
			}
		}
	}
}

// end stops the renewal and runs the final step once.
func (c *redisClaim) end(step func(ctx context.Context) error) error {
	err := errClaimEnded
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		err = step(ctx)
	})
	if err == errClaimEnded {
		return nil
	}
	return err
}

var errClaimEnded = errors.New("claim already ended")

func (c *redisClaim) Complete(resp *Response, ttl time.Duration) error {
	return c.end(func(ctx context.Context) error {
		v := make([]byte, 0, 1+len(Fingerprint{})+len(resp.Body)+256)
		v = append(v, stateDone)
		v = append(v, c.value[1+tokenSize:]...)
		v = appendResponse(v, resp)
		return completeScript.Run(ctx, c.s.client, []string{c.key}, c.value, v, ttl.Milliseconds()).Err()
	})
}

func (c *redisClaim) Fail(resp *Response) error {
	return c.end(func(ctx context.Context) error {
		token := []byte(c.value[1 : 1+tokenSize])
		return failScript.Run(ctx, c.s.client, []string{c.key, failureKey(c.key, token)},
			c.value, appendResponse(nil, resp), failureTTL.Milliseconds()).Err()
	})
}

func (c *redisClaim) Abandon() error {
	return c.end(func(ctx context.Context) error {
		return abandonScript.Run(ctx, c.s.client, []string{c.key}, c.value).Err()
	})
}
