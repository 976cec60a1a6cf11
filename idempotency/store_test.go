package idempotency

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// storeFactory makes a fresh, isolated store for one test; waiting, when
// set, is called each time a duplicate starts to wait.
type storeFactory func(t *testing.T, waiting func()) Store

func response(body string) *Response {
	return &Response{Status: 200, Body: []byte(body), RequestID: "req-1",
		Header: http.Header{"Content-Type": {"application/json"}, "X-Xjp-Provider": {"p"}}}
}

var (
	fpA = NewFingerprint("openai", []byte(`{"a":1}`))
	fpB = NewFingerprint("openai", []byte(`{"a":2}`))
)

func begin(t *testing.T, s Store, k Key, fp Fingerprint) (Claim, *Response) {
	t.Helper()
	c, r, err := s.Begin(context.Background(), k, fp)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	if (c == nil) == (r == nil) {
		t.Fatalf("Begin = claim %v, response %v; want exactly one", c, r)
	}
	return c, r
}

func mustClaim(t *testing.T, s Store, k Key, fp Fingerprint) Claim {
	t.Helper()
	c, r := begin(t, s, k, fp)
	if c == nil {
		t.Fatalf("Begin replayed %q, want a claim", r.Body)
	}
	return c
}

func mustReplay(t *testing.T, s Store, k Key, fp Fingerprint) *Response {
	t.Helper()
	c, r := begin(t, s, k, fp)
	if r == nil {
		_ = c.Abandon()
		t.Fatal("Begin claimed, want a replay")
	}
	return r
}

// testStore is the behaviour every store must have.
func testStore(t *testing.T, newStore storeFactory) {
	t.Run("replays a completed response", func(t *testing.T) {
		s := newStore(t, nil)
		k := NewKey("t1", "k1")
		want := response(`{"answer":42}`)
		if err := mustClaim(t, s, k, fpA).Complete(want, time.Hour); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if got := mustReplay(t, s, k, fpA); !reflect.DeepEqual(got, want) {
				t.Fatalf("replayed %+v, want %+v", got, want)
			}
		}
	})

	t.Run("another body is a conflict", func(t *testing.T) {
		s := newStore(t, nil)
		k := NewKey("t1", "k1")
		c := mustClaim(t, s, k, fpA)
		if _, _, err := s.Begin(context.Background(), k, fpB); !errors.Is(err, ErrConflict) {
			t.Fatalf("while running: err = %v, want ErrConflict", err)
		}
		_ = c.Complete(response("x"), time.Hour)
		if _, _, err := s.Begin(context.Background(), k, fpB); !errors.Is(err, ErrConflict) {
			t.Fatalf("once stored: err = %v, want ErrConflict", err)
		}
	})

	t.Run("keys are scoped by tenant", func(t *testing.T) {
		s := newStore(t, nil)
		_ = mustClaim(t, s, NewKey("t1", "k1"), fpA).Complete(response("t1's"), time.Hour)
		c := mustClaim(t, s, NewKey("t2", "k1"), fpA) // same key, same body, other tenant
		_ = c.Abandon()
		if NewKey("ab", "c") == NewKey("a", "bc") {
			t.Fatal("tenant and key run together")
		}
	})

	t.Run("concurrent duplicates wait and share the result", func(t *testing.T) {
		const n = 20
		waiting := make(chan struct{}, n)
		s := newStore(t, func() { waiting <- struct{}{} })
		k := NewKey("t1", "k1")
		first := mustClaim(t, s, k, fpA)

		var claims atomic.Int32
		results := make(chan *Response, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				c, r, err := s.Begin(context.Background(), k, fpA)
				if err != nil {
					t.Error(err)
				}
				if c != nil {
					claims.Add(1)
					_ = c.Abandon()
				}
				results <- r
			})
		}
		for range n {
			<-waiting
		}
		want := response("shared")
		_ = first.Complete(want, time.Hour)
		wg.Wait()
		close(results)
		if claims.Load() != 0 {
			t.Fatalf("%d duplicates got a claim, want 0", claims.Load())
		}
		for r := range results {
			if !reflect.DeepEqual(r, want) {
				t.Fatalf("a duplicate got %+v", r)
			}
		}
	})

	t.Run("a failure reaches the waiters but is not stored", func(t *testing.T) {
		waiting := make(chan struct{}, 1)
		s := newStore(t, func() { waiting <- struct{}{} })
		k := NewKey("t1", "k1")
		first := mustClaim(t, s, k, fpA)
		got := make(chan *Response, 1)
		go func() {
			_, r, err := s.Begin(context.Background(), k, fpA)
			if err != nil {
				t.Error(err)
			}
			got <- r
		}()
		<-waiting
		failure := &Response{Status: 502, Body: []byte(`{"error":"upstream"}`), Header: http.Header{}}
		_ = first.Fail(failure)
		if r := <-got; r == nil || r.Status != 502 || string(r.Body) != string(failure.Body) {
			t.Fatalf("the waiter got %+v, want the failure", r)
		}
		c := mustClaim(t, s, k, fpA) // a later retry runs again
		_ = c.Complete(response("ok"), time.Hour)
		if r := mustReplay(t, s, k, fpA); string(r.Body) != "ok" {
			t.Fatalf("replayed %q", r.Body)
		}
	})

	t.Run("an abandoned claim passes to a waiter", func(t *testing.T) {
		waiting := make(chan struct{}, 1)
		s := newStore(t, func() { waiting <- struct{}{} })
		k := NewKey("t1", "k1")
		first := mustClaim(t, s, k, fpA)
		got := make(chan Claim, 1)
		go func() {
			c, _, err := s.Begin(context.Background(), k, fpA)
			if err != nil {
				t.Error(err)
			}
			got <- c
		}()
		<-waiting
		_ = first.Abandon()
		c := <-got
		if c == nil {
			t.Fatal("the waiter did not get the claim")
		}
		_ = c.Complete(response("second"), time.Hour)
		if r := mustReplay(t, s, k, fpA); string(r.Body) != "second" {
			t.Fatalf("replayed %q", r.Body)
		}
	})

	t.Run("ending a claim twice does nothing", func(t *testing.T) {
		s := newStore(t, nil)
		k := NewKey("t1", "k1")
		c := mustClaim(t, s, k, fpA)
		_ = c.Complete(response("kept"), time.Hour)
		if err := c.Abandon(); err != nil {
			t.Fatal(err)
		}
		if r := mustReplay(t, s, k, fpA); string(r.Body) != "kept" {
			t.Fatalf("replayed %q", r.Body)
		}
	})

	t.Run("a waiter whose client leaves stops waiting", func(t *testing.T) {
		waiting := make(chan struct{}, 1)
		s := newStore(t, func() { waiting <- struct{}{} })
		k := NewKey("t1", "k1")
		first := mustClaim(t, s, k, fpA)
		defer first.Abandon()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, _, err := s.Begin(ctx, k, fpA)
			errc <- err
		}()
		<-waiting
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestMemory(t *testing.T) {
	testStore(t, func(t *testing.T, waiting func()) Store {
		m := NewMemory(1<<20, nil)
		m.waiting = waiting
		return m
	})
}

// clock is a settable time for the memory store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestMemoryExpiry(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1e9, 0)}
	m := NewMemory(1<<20, clk.now)
	k := NewKey("t1", "k1")
	_ = mustClaim(t, m, k, fpA).Complete(response("old"), time.Hour)
	clk.add(59 * time.Minute)
	mustReplay(t, m, k, fpA)
	clk.add(time.Minute)
	c := mustClaim(t, m, k, fpB) // expired: even another body may use the key
	_ = c.Abandon()
	if m.Size() != 0 {
		t.Errorf("size %d after expiry", m.Size())
	}
}

func TestMemoryEvictsTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	one := response("0123456789")
	m := NewMemory(3*one.size(), nil)
	keys := []Key{NewKey("t", "a"), NewKey("t", "b"), NewKey("t", "c"), NewKey("t", "d")}
	for _, k := range keys[:3] {
		_ = mustClaim(t, m, k, fpA).Complete(one, time.Hour)
	}
	mustReplay(t, m, keys[0], fpA) // a is now the most recently used
	_ = mustClaim(t, m, keys[3], fpA).Complete(one, time.Hour)
	if m.Size() != 3*one.size() {
		t.Errorf("size %d, want %d", m.Size(), 3*one.size())
	}
	for i, stored := range []bool{true, false, true, true} {
		c, _, _ := m.Begin(context.Background(), keys[i], fpA)
		if (c == nil) != stored {
			t.Errorf("key %d stored = %v, want %v", i, c == nil, stored)
		}
		if c != nil {
			_ = c.Abandon()
		}
	}

	big := response(string(make([]byte, 4*one.size())))
	_ = mustClaim(t, m, NewKey("t", "big"), fpA).Complete(big, time.Hour)
	_ = mustClaim(t, m, NewKey("t", "big"), fpA).Abandon() // too large to keep: not stored
	m.SetCapacity(one.size())
	if m.Size() > one.size() {
		t.Errorf("size %d after shrinking to %d", m.Size(), one.size())
	}
}
