package gemini

import (
	"testing"
	"time"
)

func TestLRU(t *testing.T) {
	t.Parallel()
	// Each entry costs len(key) + cost + 64 bytes: three of these fit.
	c := newLRU[string](3*(1+10+64), 0)
	for _, k := range []string{"a", "b", "c"} {
		c.put(k, k+"-value", 10)
	}
	if _, ok := c.get("a"); !ok { // a is now the most recent
		t.Fatal("a evicted too early")
	}
	c.put("d", "d-value", 10) // evicts b, the least recently used
	if _, ok := c.get("b"); ok {
		t.Error("b survived although it was the least recently used")
	}
	for _, k := range []string{"a", "c", "d"} {
		if v, ok := c.get(k); !ok || v != k+"-value" {
			t.Errorf("get(%s) = %q, %v", k, v, ok)
		}
	}
	c.put("a", "new", 10) // replacing costs nothing extra
	if v, _ := c.get("a"); v != "new" || c.len() != 3 {
		t.Errorf("after replace: %q, %d entries", v, c.len())
	}
	c.put("huge", "x", 1<<20) // larger than the whole budget: not kept
	if _, ok := c.get("huge"); ok || c.len() != 3 {
		t.Errorf("an entry over the budget was kept (%d entries)", c.len())
	}
}

func TestLRUExpiry(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	c := newLRU[int](1<<20, time.Hour)
	c.now = func() time.Time { return now }
	c.put("k", 7, 0)
	now = now.Add(59 * time.Minute)
	if v, ok := c.get("k"); !ok || v != 7 {
		t.Fatalf("get before expiry = %d, %v", v, ok)
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.get("k"); ok || c.len() != 0 {
		t.Error("an expired entry was returned or kept")
	}
}

func TestSignatureCache(t *testing.T) {
	t.Parallel()
	s := signatureCache{newLRU[signedCall](1<<20, time.Hour), newLRU[struct{}](1<<20, time.Hour)}
	s.remember("call_1", "get_weather", "c2ln")
	s.remember("", "get_weather", "c2ln") // nothing to key by
	s.remember("call_2", "get_weather", "")
	if got := s.lookup("call_1", "get_weather"); got != "c2ln" {
		t.Errorf("lookup = %q", got)
	}
	if got := s.lookup("call_1", "other"); got != "" {
		t.Errorf("a signature went to a call of another function: %q", got)
	}
	if s.len() != 1 || s.lookup("", "get_weather") != "" || s.lookup("call_2", "get_weather") != "" {
		t.Errorf("entries without id or signature were kept (%d)", s.len())
	}
}
