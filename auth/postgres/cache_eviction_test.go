package postgres

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/auth"
)

// A lookup caches its answer unless its own key was evicted (or the cache
// cleared) while it ran; other keys' announcements do not stop it.
func TestCacheIgnoresOtherKeysEvictions(t *testing.T) {
	now := time.Now()
	mine, other := digest{1}, digest{2}
	hexOf := func(d digest) string { return hex.EncodeToString(d[:]) }
	tests := []struct {
		name     string
		during   func(c *keyCache)
		wantKept bool
	}{
		{"nothing happens", func(*keyCache) {}, true},
		{"another key is evicted", func(c *keyCache) { c.evictHex(hexOf(other)) }, true},
		{"this key is evicted", func(c *keyCache) { c.evictHex(hexOf(mine)) }, false},
		{"the cache is cleared", func(c *keyCache) { c.clear() }, false},
		{"more evictions than remembered", func(c *keyCache) {
			for range 100 {
				c.evictHex(hexOf(other))
			}
		}, false},
	}
	for _, tt := range tests {
		c := newKeyCache(time.Minute, time.Minute)
		gen := c.generation()
		tt.during(c)
		c.putFound(mine, &auth.Key{ID: "k"}, time.Time{}, gen, now)
		if _, got := c.get(mine, now); (got == found) != tt.wantKept {
			t.Errorf("%s: cached = %v, want %v", tt.name, got == found, tt.wantKept)
		}
	}
}
