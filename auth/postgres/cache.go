package postgres

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/xiaojinpro/xjp-gateway/auth"
)

type digest = [sha256.Size]byte

// keyCache remembers recent lookups, so that authentication does not
// query the database on every request: keys found (for cache_ttl, or
// until the key expires) and secrets not found (for negative_cache_ttl).
// Changes announced by the database evict entries at once.
type keyCache struct {
	ttl, negativeTTL time.Duration
	maxNegative      int

	mu  sync.RWMutex
	pos map[digest]cachedKey
	neg map[digest]time.Time // until when the secret is known to be unknown
	// gen counts evictions, and recent remembers the last ones: a lookup
	// that started before an eviction of its own digest (or a clear) does
	// not cache its possibly stale answer. Evictions of other keys, such
	// as announcements from other gateways' changes, do not stop it.
	gen    uint64
	recent [64]eviction // recent[g%64] is the eviction that made gen g
}

type eviction struct {
	d   digest
	all bool // a clear
}

// evictedSinceLocked reports whether d was evicted after generation gen;
// when the record of evictions does not reach back that far, it assumes so.
func (c *keyCache) evictedSinceLocked(d digest, gen uint64) bool {
	if c.gen-gen >= uint64(len(c.recent)) {
		return true
	}
	for g := gen + 1; g <= c.gen; g++ {
		if e := c.recent[g%uint64(len(c.recent))]; e.all || e.d == d {
			return true
		}
	}
	return false
}

func (c *keyCache) noteEvictionLocked(e eviction) {
	c.gen++
	c.recent[c.gen%uint64(len(c.recent))] = e
}

type cachedKey struct {
	key     *auth.Key
	until   time.Time // end of the cache entry
	expires time.Time // the key's own expiry; zero when it has none
}

// maxNegativeEntries bounds the negative cache: a flood of random keys
// must not grow memory without bound.
const maxNegativeEntries = 65536

func newKeyCache(ttl, negativeTTL time.Duration) *keyCache {
	return &keyCache{
		ttl: ttl, negativeTTL: negativeTTL, maxNegative: maxNegativeEntries,
		pos: make(map[digest]cachedKey), neg: make(map[digest]time.Time),
	}
}

// lookup is the cache's answer for d: a key, known-unknown, or a miss.
type lookup uint8

const (
	miss lookup = iota
	found
	unknown
)

func (c *keyCache) get(d digest, now time.Time) (*auth.Key, lookup) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e, ok := c.pos[d]; ok && now.Before(e.until) {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			return nil, unknown
		}
		return e.key, found
	}
	if until, ok := c.neg[d]; ok && now.Before(until) {
		return nil, unknown
	}
	return nil, miss
}

func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// putFound caches a key, unless it was evicted since gen.
func (c *keyCache) putFound(d digest, k *auth.Key, expires time.Time, gen uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.evictedSinceLocked(d, gen) {
		return
	}
	delete(c.neg, d)
	c.pos[d] = cachedKey{key: k, until: now.Add(c.ttl), expires: expires}
}

// putUnknown caches that d is no valid key, unless it was evicted since
// gen.
func (c *keyCache) putUnknown(d digest, gen uint64, now time.Time) {
	if c.negativeTTL <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.evictedSinceLocked(d, gen) {
		return
	}
	delete(c.pos, d)
	if len(c.neg) >= c.maxNegative {
		c.sweepLocked(now)
		for k := range c.neg { // still full: forget an arbitrary entry
			if len(c.neg) < c.maxNegative {
				break
			}
			delete(c.neg, k)
		}
	}
	c.neg[d] = now.Add(c.negativeTTL)
}

// evictHex drops the entries of the key whose digest is announced in
// hex; a malformed announcement clears everything.
func (c *keyCache) evictHex(payload string) {
	var d digest
	if n, err := hex.Decode(d[:], []byte(payload)); err != nil || n != len(d) {
		c.clear()
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pos, d)
	delete(c.neg, d)
	c.noteEvictionLocked(eviction{d: d})
}

// clear drops everything: changes may have gone unheard.
func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos = make(map[digest]cachedKey)
	c.neg = make(map[digest]time.Time)
	c.noteEvictionLocked(eviction{all: true})
}

// sweep drops expired entries.
func (c *keyCache) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepLocked(now)
}

func (c *keyCache) sweepLocked(now time.Time) {
	for d, e := range c.pos {
		if !now.Before(e.until) {
			delete(c.pos, d)
		}
	}
	for d, until := range c.neg {
		if !now.Before(until) {
			delete(c.neg, d)
		}
	}
}

func (c *keyCache) len() (pos, neg int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pos), len(c.neg)
}
