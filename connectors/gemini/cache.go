package gemini

import (
	"container/list"
	"sync"
	"time"
)

// lru is a byte-bounded least-recently-used cache with optional expiry,
// for the two things this connector remembers: thought signatures and
// reduced tool schemas.
type lru[V any] struct {
	mu     sync.Mutex
	budget int           // bytes
	ttl    time.Duration // 0: entries do not expire
	size   int
	order  *list.List // of *lruEntry[V], most recent first
	items  map[string]*list.Element
	now    func() time.Time
}

type lruEntry[V any] struct {
	key     string
	value   V
	cost    int
	expires time.Time
}

func newLRU[V any](budget int, ttl time.Duration) *lru[V] {
	return &lru[V]{budget: budget, ttl: ttl, order: list.New(), items: make(map[string]*list.Element), now: time.Now}
}

// get returns the value stored under key. A []byte key converted in the
// call (c.get(string(b))) costs no allocation.
func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.items[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*lruEntry[V])
	if c.ttl > 0 && c.now().After(e.expires) {
		c.remove(el)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// put stores value under key; cost is its size in bytes besides the key.
func (c *lru[V]) put(key string, value V, cost int) {
	cost += len(key) + 64 // the entry's own bookkeeping
	if cost > c.budget {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &lruEntry[V]{key: key, value: value, cost: cost}
	if c.ttl > 0 {
		e.expires = c.now().Add(c.ttl)
	}
	if el, ok := c.items[key]; ok {
		c.size -= el.Value.(*lruEntry[V]).cost
		el.Value = e
		c.order.MoveToFront(el)
	} else {
		c.items[key] = c.order.PushFront(e)
	}
	c.size += cost
	for c.size > c.budget {
		c.remove(c.order.Back())
	}
}

func (c *lru[V]) remove(el *list.Element) {
	e := c.order.Remove(el).(*lruEntry[V])
	delete(c.items, e.key)
	c.size -= e.cost
}

func (c *lru[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
