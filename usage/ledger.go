package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"
)

// Config tunes a Ledger.
type Config struct {
	// QueueSize is how many usage rows may wait for the writer; beyond
	// it rows are dropped (and counted). Default 10000.
	QueueSize int
	// BatchSize is the most rows one write carries. Default 500.
	BatchSize int
	// FlushInterval is how often the writer writes what is queued and
	// refreshes the quota counters of active keys. Default 1s.
	FlushInterval time.Duration
	// ReadTimeout bounds the one database read a request may wait for
	// (a key's counter, the first time it is asked about). Default 2s.
	ReadTimeout time.Duration
	// DrainTimeout bounds how long Close keeps trying to write what is
	// left when the database does not answer. Default 15s.
	DrainTimeout time.Duration
	// Logger returns the logger to use at the time of the call (the
	// ledger outlives configurations, and with them their loggers).
	Logger func() *zap.Logger
}

const (
	defaultQueueSize     = 10000
	defaultBatchSize     = 500
	defaultFlushInterval = time.Second
	defaultReadTimeout   = 2 * time.Second
	defaultDrainTimeout  = 15 * time.Second
	// rejectedAttempts is how often the database may refuse a batch
	// (bad data, missing table) before the batch is dropped; connection
	// failures are retried until the ledger closes.
	rejectedAttempts = 5
)

func (c *Config) setDefaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = defaultQueueSize
	}
	if c.BatchSize <= 0 {
		c.BatchSize = defaultBatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = defaultFlushInterval
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = defaultReadTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = defaultDrainTimeout
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop
	}
}

// Ledger is the Accountant backed by PostgreSQL. Requests hand it their
// records without waiting; one goroutine writes them in batches with
// COPY, adds the charges to key_daily_tokens, and refreshes the counters
// of keys in use, every FlushInterval or BatchSize rows. Close drains it.
type Ledger struct {
	pool *pgxpool.Pool
	cfg  Config

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool
	queue  chan Record

	flushReq chan chan error
	nudges   chan struct{}
	done     chan struct{}

	quota *quotaBook
	reads singleflight.Group

	inflight atomic.Int64
	closing  atomic.Bool
	idleOnce sync.Once
	idle     chan struct{}

	dropped     atomic.Uint64
	lastDropLog atomic.Int64
}

// NewLedger starts a ledger writing to pool.
func NewLedger(pool *pgxpool.Pool, cfg Config) *Ledger {
	l := newLedger(pool, cfg)
	go l.run()
	live.Store(l, struct{}{}) // for xjp_usage_log_queue_depth
	return l
}

func newLedger(pool *pgxpool.Pool, cfg Config) *Ledger {
	cfg.setDefaults()
	return &Ledger{
		pool:     pool,
		cfg:      cfg,
		queue:    make(chan Record, cfg.QueueSize),
		flushReq: make(chan chan error),
		nudges:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		quota:    newQuotaBook(),
		idle:     make(chan struct{}),
	}
}

// Nudge asks for a write soon, without waiting for it (a configuration
// reload calls it, so that rows of the old configuration do not wait for
// the next tick).
func (l *Ledger) Nudge() {
	select {
	case l.nudges <- struct{}{}:
	default:
	}
}

// Begin implements Accountant.
func (l *Ledger) Begin() { l.inflight.Add(1) }

func (l *Ledger) end() {
	if l.inflight.Add(-1) == 0 && l.closing.Load() {
		l.idleOnce.Do(func() { close(l.idle) })
	}
}

// Idle returns a channel closed once every request begun has been
// recorded; the owner calls it when no new requests will come. (A
// straggler's Begin after that is harmless: its row is written if the
// ledger is still open, and counted as dropped if not.)
func (l *Ledger) Idle() <-chan struct{} {
	l.closing.Store(true)
	if l.inflight.Load() == 0 {
		l.idleOnce.Do(func() { close(l.idle) })
	}
	return l.idle
}

// Record implements Accountant.
func (l *Ledger) Record(rec *Record) {
	defer l.end()
	l.quota.charge(rec.KeyID, dayOf(rec.Time.Add(rec.Latency)), rec.Tokens())
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		l.drop(1, "the usage ledger is closed")
		return
	}
	select {
	case l.queue <- *rec:
		l.mu.RUnlock()
	default:
		l.mu.RUnlock()
		l.drop(1, "the usage-log queue is full")
	}
}

// TokensToday implements Accountant.
func (l *Ledger) TokensToday(ctx context.Context, keyID string) (int64, error) {
	if !isUUID(keyID) {
		return 0, nil // not a database key: nothing is counted for it
	}
	today := dayOf(time.Now())
	if n, ok := l.quota.known(keyID, today); ok {
		return n, nil
	}
	v, err, _ := l.reads.Do(keyID, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.ReadTimeout)
		defer cancel()
		at := time.Now()
		var n int64
		err := l.pool.QueryRow(ctx,
			"SELECT coalesce((SELECT tokens FROM key_daily_tokens WHERE key_id = $1::text::uuid AND day = $2), 0)",
			keyID, today.time()).Scan(&n)
		if err != nil {
			return nil, err
		}
		return l.quota.learn(keyID, today, n, at), nil
	})
	if err != nil {
		return 0, fmt.Errorf("reading the token count of key %s: %w", keyID, err)
	}
	return v.(int64), nil
}

// Dropped is how many usage rows this ledger dropped.
func (l *Ledger) Dropped() uint64 { return l.dropped.Load() }

// QueueLen is how many rows wait for the writer.
func (l *Ledger) QueueLen() int { return len(l.queue) }

func (l *Ledger) drop(n int, why string) {
	l.dropped.Add(uint64(n))
	droppedRows.Add(float64(n))
	// One warning per 10 seconds at most: a full queue under load would
	// otherwise flood the log.
	now := time.Now().UnixNano()
	last := l.lastDropLog.Load()
	if now-last >= int64(10*time.Second) && l.lastDropLog.CompareAndSwap(last, now) {
		l.cfg.Logger().Warn("usage-log rows dropped",
			zap.String("reason", why), zap.Int("rows", n), zap.Uint64("dropped_total", l.dropped.Load()))
	}
}

// Flush writes everything recorded before the call, rereads the counters
// of keys in use, and returns when done (or ctx ends).
func (l *Ledger) Flush(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case l.flushReq <- ch:
	case <-l.done:
		return errors.New("the usage ledger is closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting records, writes what is queued and the pending
// charges, and returns when they are written, or after DrainTimeout if
// the database does not take them (the rows are then counted as
// dropped). Records arriving after Close are dropped. The pool stays
// open: it is the caller's.
func (l *Ledger) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
	live.Delete(l)
}

// run is the writer goroutine.
func (l *Ledger) run() {
	defer close(l.done)
	tick := time.NewTicker(l.cfg.FlushInterval)
	defer tick.Stop()
	w := &writer{l: l, batch: make([]Record, 0, l.cfg.BatchSize)}
	for {
		queue := l.queue
		if w.failing && len(w.batch) >= l.cfg.BatchSize {
			queue = nil // hold back until the database takes the batch: the queue absorbs, then drops
		}
		select {
		case rec, ok := <-queue:
			if !ok {
				w.drain()
				return
			}
			w.batch = append(w.batch, rec)
			if len(w.batch) >= l.cfg.BatchSize {
				ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
				_ = w.writeRows(ctx)
				cancel()
			}
		case <-tick.C:
			w.tick()
		case <-l.nudges:
			w.takeQueued()
			w.tick()
		case reply := <-l.flushReq:
			w.takeQueued()
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := w.flushAll(ctx)
			w.refreshCounters(ctx, 0)
			cancel()
			reply <- err
		}
	}
}

// writer is the state of the writer goroutine.
type writer struct {
	l        *Ledger
	batch    []Record
	failing  bool // the last write of the batch failed
	rejected int  // consecutive refusals of the batch by the server
}

func (w *writer) logger() *zap.Logger { return w.l.cfg.Logger() }

// writeTimeout bounds one round of writes, so that a database that
// stopped answering is noticed and retried.
const writeTimeout = 10 * time.Second

// tick writes what is due and refreshes the counters of keys in use.
func (w *writer) tick() {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_ = w.writeCharges(ctx)
	_ = w.writeRows(ctx)
	w.refreshCounters(ctx, w.l.cfg.FlushInterval)
}

// takeQueued moves every queued row into the batch.
func (w *writer) takeQueued() {
	for {
		select {
		case rec, ok := <-w.l.queue:
			if !ok {
				return
			}
			w.batch = append(w.batch, rec)
		default:
			return
		}
	}
}

// flushAll writes the charges and every row in the batch.
func (w *writer) flushAll(ctx context.Context) error {
	err := w.writeCharges(ctx)
	for len(w.batch) > 0 {
		if rerr := w.writeRows(ctx); rerr != nil {
			return cmp.Or(err, rerr)
		}
	}
	return err
}

// drain writes everything left after Close, retrying until
// DrainTimeout passes.
func (w *writer) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), w.l.cfg.DrainTimeout)
	defer cancel()
	backoff := 50 * time.Millisecond
	for {
		err := w.flushAll(ctx)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			n := len(w.batch)
			w.l.drop(n, "the database did not take them before shutdown")
			w.logger().Error("usage ledger closed with unwritten rows and token charges",
				zap.Int("rows", n), zap.Int("charges", len(w.l.quota.takePending())), zap.Error(err))
			return
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
}

// writeCharges adds the pending charges to key_daily_tokens.
func (w *writer) writeCharges(ctx context.Context) error {
	taken := w.l.quota.takePending()
	if len(taken) == 0 {
		return nil
	}
	totals, err := writeCharges(ctx, w.l.pool, taken)
	if err != nil {
		w.l.quota.restore(taken)
		w.logger().Warn("writing token counters failed; will retry", zap.Int("keys", len(taken)), zap.Error(err))
		return err
	}
	w.l.quota.acknowledge(taken, totals, time.Now())
	return nil
}

// writeRows writes up to BatchSize rows of the batch.
func (w *writer) writeRows(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	n := min(len(w.batch), w.l.cfg.BatchSize)
	err := copyRows(ctx, w.l.pool, w.batch[:n])
	if err == nil {
		w.batch = append(w.batch[:0], w.batch[n:]...)
		w.failing, w.rejected = false, 0
		return nil
	}
	w.failing = true
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if w.rejected++; w.rejected >= rejectedAttempts {
			w.l.drop(n, "the database refused them")
			w.logger().Error("usage-log batch refused by the database; dropped",
				zap.Int("rows", n), zap.Error(err))
			w.batch = append(w.batch[:0], w.batch[n:]...)
			w.failing, w.rejected = false, 0
			return err
		}
	}
	w.logger().Warn("writing usage logs failed; will retry", zap.Int("rows", n), zap.Error(err))
	return err
}

// refreshCounters rereads the counters of keys asked about that are
// older than maxAge, so that charges made by other instances count here
// too.
func (w *writer) refreshCounters(ctx context.Context, maxAge time.Duration) {
	now := time.Now()
	today := dayOf(now)
	keys := w.l.quota.stale(today, now, maxAge)
	if len(keys) == 0 {
		return
	}
	totals, err := readCounters(ctx, w.l.pool, keys, today)
	if err != nil {
		w.logger().Warn("refreshing token counters failed", zap.Int("keys", len(keys)), zap.Error(err))
		return
	}
	w.l.quota.refreshed(keys, today, totals, now)
}
