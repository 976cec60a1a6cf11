package idempotency

import (
	"context"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/internal/redistest"
)

func newTestRedis(t *testing.T, waiting func()) *Redis {
	client, prefix := redistest.Client(t)
	s := NewRedis(client, prefix, 2*time.Second)
	s.poll, s.maxPoll = time.Millisecond, 20*time.Millisecond
	s.waiting = waiting
	return s
}

func TestRedis(t *testing.T) {
	testStore(t, func(t *testing.T, waiting func()) Store { return newTestRedis(t, waiting) })
}

func TestRedisExpiry(t *testing.T) {
	s := newTestRedis(t, nil)
	k := NewKey("t1", "k1")
	_ = mustClaim(t, s, k, fpA).Complete(response("soon gone"), 50*time.Millisecond)
	ttl, err := s.client.PTTL(context.Background(), s.key(k)).Result()
	if err != nil || ttl <= 0 || ttl > 50*time.Millisecond {
		t.Fatalf("PTTL = %v, %v; want at most the 50ms TTL", ttl, err)
	}
	// Redis expires the key on its own clock: look until it has.
	for {
		c, _, err := s.Begin(context.Background(), k, fpB)
		if err == ErrConflict {
			continue // still stored
		}
		if err != nil || c == nil {
			t.Fatalf("after expiry: claim %v, err %v", c, err)
		}
		_ = c.Abandon()
		return
	}
}

// TestRedisClaimOfADeadHolderExpires: a gateway that dies while running a
// request stops renewing its claim, which then expires, and a duplicate
// waiting for it takes over.
func TestRedisClaimOfADeadHolderExpires(t *testing.T) {
	waiting := make(chan struct{}, 1)
	s := newTestRedis(t, func() { waiting <- struct{}{} })
	s.lease = 300 * time.Millisecond
	k := NewKey("t1", "k1")
	first := mustClaim(t, s, k, fpA).(*redisClaim)
	// The holder dies: its renewal stops, and nothing releases the claim.
	close(first.stop)
	<-first.done

	got := make(chan Claim, 1)
	go func() {
		c, _, err := s.Begin(context.Background(), k, fpA)
		if err != nil {
			t.Error(err)
		}
		got <- c
	}()
	<-waiting
	c := <-got
	if c == nil {
		t.Fatal("the waiter did not take over the expired claim")
	}
	_ = c.Complete(response("second"), time.Hour)
	// Should the holder come back, its completion must not overwrite the
	// result: its claim is no longer the one stored.
	zombie := &redisClaim{s: s, key: first.key, value: first.value, stop: make(chan struct{}), done: make(chan struct{})}
	close(zombie.done)
	_ = zombie.Complete(response("zombie"), time.Hour)
	if r := mustReplay(t, s, k, fpA); string(r.Body) != "second" {
		t.Fatalf("replayed %q", r.Body)
	}
}

// TestRedisRenewsItsLease: a request running longer than the lease keeps
// its claim.
func TestRedisRenewsItsLease(t *testing.T) {
	s := newTestRedis(t, nil)
	renewed := make(chan struct{}, 1)
	s.renewed = func() { renewed <- struct{}{} }
	s.lease = 300 * time.Millisecond
	k := NewKey("t1", "k1")
	c := mustClaim(t, s, k, fpA)
	defer c.Abandon()
	for range 4 { // over a lease and a quarter
		<-renewed
		v, err := s.client.Get(context.Background(), s.key(k)).Result()
		if err != nil || v[0] != statePending {
			t.Fatalf("the claim is gone while its holder runs: %q, %v", v, err)
		}
	}
}

func TestCodec(t *testing.T) {
	t.Parallel()
	want := response("event: x\ndata: {}\n\n")
	got, err := decodeResponse(appendResponse(nil, want))
	if err != nil || got.Status != want.Status || string(got.Body) != string(want.Body) ||
		got.RequestID != want.RequestID || got.Header.Get("X-Xjp-Provider") != "p" || len(got.Header) != 2 {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	enc := appendResponse(nil, want)
	for i := range len(enc) - len(want.Body) {
		if _, err := decodeResponse(enc[:i]); err == nil {
			t.Errorf("a response cut at %d decodes", i)
		}
	}
}
