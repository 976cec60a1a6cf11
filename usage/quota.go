package usage

import (
	"sync"
	"time"
)

// day numbers UTC days since 1970-01-01.
type day int32

func dayOf(t time.Time) day { return day(t.Unix() / 86400) }

func (d day) time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

type dayKey struct {
	key string
	day day
}

// counter is what an instance knows of one key's tokens for one day.
type counter struct {
	day    day
	stored int64     // the database's count, as last read or returned by a write
	readAt time.Time // when stored was read; zero when it is a guess
	wanted bool      // asked about since the last refresh
}

// quotaBook holds the daily token counters in memory: what the database
// said, plus what this instance charged since. Only the ledger's own
// goroutine talks to the database; request goroutines only read and add.
type quotaBook struct {
	mu sync.Mutex
	// pending are charges not yet handed to a database write.
	pending map[dayKey]int64
	// unstored are charges the database has not acknowledged yet:
	// pending ones and those being written.
	unstored map[dayKey]int64
	// counters are the keys asked about (keys with a quota).
	counters map[string]*counter
}

func newQuotaBook() *quotaBook {
	return &quotaBook{
		pending:  make(map[dayKey]int64),
		unstored: make(map[dayKey]int64),
		counters: make(map[string]*counter),
	}
}

// charge adds n tokens to key's count for d.
func (q *quotaBook) charge(key string, d day, n int64) {
	if n <= 0 || !isUUID(key) {
		return
	}
	k := dayKey{key, d}
	q.mu.Lock()
	q.pending[k] += n
	q.unstored[k] += n
	q.mu.Unlock()
}

// known returns key's count for today when the book has one. A counter
// from an earlier day rolls over to today with a stored count of 0 (a
// new day starts empty; the next refresh brings other instances'
// charges), so only a key never asked about needs a database read.
func (q *quotaBook) known(key string, today day) (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.counters[key]
	if c == nil {
		return 0, false
	}
	if c.day != today {
		*c = counter{day: today}
	}
	c.wanted = true
	return c.stored + q.unstored[dayKey{key, today}], true
}

// learn stores a count read from the database at readAt, unless a
// fresher one arrived meanwhile, and returns today's total.
func (q *quotaBook) learn(key string, today day, stored int64, readAt time.Time) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.counters[key]
	if c == nil || c.day != today || c.readAt.Before(readAt) {
		// Refresh at the next tick as well: a write that committed while
		// this read ran may be missing from stored and already gone from
		// unstored.
		q.counters[key] = &counter{day: today, stored: stored, readAt: readAt, wanted: true}
	}
	return q.counters[key].stored + q.unstored[dayKey{key, today}]
}

// takePending hands the pending charges to a write.
func (q *quotaBook) takePending() map[dayKey]int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return nil
	}
	taken := q.pending
	q.pending = make(map[dayKey]int64, len(taken))
	return taken
}

// restore puts back charges whose write failed.
func (q *quotaBook) restore(taken map[dayKey]int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, n := range taken {
		q.pending[k] += n
	}
}

// stored is a counter's total as the database returned it.
type stored struct {
	key    string
	day    day
	tokens int64
}

// acknowledge records a successful write of taken, and the totals the
// database returned (written and refreshed counters).
func (q *quotaBook) acknowledge(taken map[dayKey]int64, totals []stored, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for k, n := range taken {
		if left := q.unstored[k] - n; left > 0 {
			q.unstored[k] = left
		} else {
			delete(q.unstored, k)
		}
	}
	q.updateLocked(totals, at)
}

func (q *quotaBook) updateLocked(totals []stored, at time.Time) {
	for _, s := range totals {
		if c := q.counters[s.key]; c != nil && c.day <= s.day {
			c.day, c.stored, c.readAt = s.day, s.tokens, at
		}
	}
}

// stale returns the keys asked about whose counter is older than maxAge,
// and clears their wanted mark; counters nobody asked about since an
// earlier day are forgotten.
func (q *quotaBook) stale(today day, now time.Time, maxAge time.Duration) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var keys []string
	for key, c := range q.counters {
		switch {
		case !c.wanted && c.day < today:
			delete(q.counters, key)
		case c.wanted && (c.day != today || now.Sub(c.readAt) >= maxAge):
			c.wanted = false
			keys = append(keys, key)
		}
	}
	return keys
}

// refreshed stores counts read for keys (0 for keys without a row).
func (q *quotaBook) refreshed(keys []string, today day, totals map[string]int64, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, key := range keys {
		if c := q.counters[key]; c != nil && c.day <= today && !c.readAt.After(at) {
			c.day, c.stored, c.readAt = today, totals[key], at
		}
	}
}
