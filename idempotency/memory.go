package idempotency

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store in the process's memory, bounded by the total size
// of the responses it keeps: when a new one does not fit, the least
// recently used go first. Expired responses are dropped when met.
type Memory struct {
	mu       sync.Mutex
	entries  map[Key]*entry
	lru      entry // sentinel of the ring of stored entries, most recent first
	size     int64
	capacity int64
	now      func() time.Time
	waiting  func() // tests: called when a duplicate starts to wait
}

// entry is a key's state: running (resp == nil) or stored.
type entry struct {
	key Key
	fp  Fingerprint

	// While running: done is closed when the claim ends, after result is
	// set (nil when the claim was abandoned).
	done   chan struct{}
	result *Response

	resp       *Response
	expires    time.Time
	size       int64
	prev, next *entry // in the LRU ring, once stored
}

// NewMemory returns a store keeping up to capacity bytes of responses.
// now is its clock; nil means time.Now.
func NewMemory(capacity int64, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	m := &Memory{entries: make(map[Key]*entry), capacity: capacity, now: now}
	m.lru.prev, m.lru.next = &m.lru, &m.lru
	return m
}

// SetCapacity changes the bound, evicting at once what no longer fits.
func (m *Memory) SetCapacity(capacity int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capacity = capacity
	m.evict(0)
}

// Size is the total size of the stored responses.
func (m *Memory) Size() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.size
}

// Destruct implements caddy.Destructor: there is nothing to release.
func (m *Memory) Destruct() error { return nil }

// Begin implements Store.
func (m *Memory) Begin(ctx context.Context, key Key, fp Fingerprint) (Claim, *Response, error) {
	for {
		m.mu.Lock()
		e := m.entries[key]
		if e != nil && e.resp != nil && !m.now().Before(e.expires) {
			m.remove(e)
			e = nil
		}
		if e == nil {
			e = &entry{key: key, fp: fp, done: make(chan struct{})}
			m.entries[key] = e
			m.mu.Unlock()
			return &memoryClaim{m: m, e: e}, nil, nil
		}
		if e.fp != fp {
			m.mu.Unlock()
			return nil, nil, ErrConflict
		}
		if e.resp != nil {
			m.unlink(e)
			m.pushFront(e)
			m.mu.Unlock()
			return nil, e.resp, nil
		}
		done := e.done
		m.mu.Unlock()
		if m.waiting != nil {
			m.waiting()
		}
		select {
		case <-done:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if e.result != nil {
			return nil, e.result, nil
		}
		// Abandoned: try to claim the key ourselves.
	}
}

type memoryClaim struct {
	m     *Memory
	e     *entry
	ended bool
}

func (c *memoryClaim) Complete(resp *Response, ttl time.Duration) error {
	c.end(resp, func(m *Memory, e *entry) {
		size := resp.size()
		if size > m.capacity || ttl <= 0 {
			m.forget(e)
			return
		}
		e.resp, e.expires, e.size = resp, m.now().Add(ttl), size
		m.evict(size)
		m.size += size
		m.pushFront(e)
	})
	return nil
}

func (c *memoryClaim) Fail(resp *Response) error {
	c.end(resp, (*Memory).forget)
	return nil
}

func (c *memoryClaim) Abandon() error {
	c.end(nil, (*Memory).forget)
	return nil
}

// end settles the claim once: keep updates the map, then the waiters get
// result.
func (c *memoryClaim) end(result *Response, keep func(*Memory, *entry)) {
	if c.ended {
		return
	}
	c.ended = true
	c.m.mu.Lock()
	keep(c.m, c.e)
	c.e.result = result
	close(c.e.done)
	c.m.mu.Unlock()
}

// forget removes a running entry from the map (if it is still there).
func (m *Memory) forget(e *entry) {
	if m.entries[e.key] == e {
		delete(m.entries, e.key)
	}
}

// remove drops a stored entry.
func (m *Memory) remove(e *entry) {
	m.forget(e)
	m.unlink(e)
	m.size -= e.size
}

// evict drops least recently used entries until room more bytes fit,
// and expired ones found at the old end on the way.
func (m *Memory) evict(room int64) {
	now := m.now()
	for last := m.lru.prev; last != &m.lru; last = m.lru.prev {
		if m.size+room <= m.capacity && now.Before(last.expires) {
			return
		}
		m.remove(last)
	}
}

func (m *Memory) pushFront(e *entry) {
	e.prev, e.next = &m.lru, m.lru.next
	e.prev.next, e.next.prev = e, e
}

func (m *Memory) unlink(e *entry) {
	if e.prev != nil {
		e.prev.next, e.next.prev = e.next, e.prev
		e.prev, e.next = nil, nil
	}
}
