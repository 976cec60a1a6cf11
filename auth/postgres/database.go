package postgres

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/usage"
)

// settings are a store's resolved options; equal settings share one
// database (pool, cache, listener and ledger) in a process.
type settings struct {
	DSN           string
	MaxConns      int32
	CacheTTL      time.Duration
	NegativeTTL   time.Duration
	LookupTimeout time.Duration
	Pepper        string
	Migrate       bool
	QueueSize     int
	BatchSize     int
	FlushInterval time.Duration
}

// poolKey names the database in the usage pool. It is a hash: the DSN
// and the pepper are secrets.
func (s settings) poolKey() string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%q|%d|%d|%d|%d|%q|%t|%d|%d|%d",
		s.DSN, s.MaxConns, s.CacheTTL, s.NegativeTTL, s.LookupTimeout, s.Pepper, s.Migrate,
		s.QueueSize, s.BatchSize, s.FlushInterval))
	return "xjp_gateway.postgres." + hex.EncodeToString(sum[:12])
}

// databases holds the databases of the running configurations; a reload
// with unchanged settings keeps the pool, the cache, the listener and
// the queued usage rows.
var databases = caddy.NewUsagePool()

// database is everything one store configuration shares across reloads:
// the pgx pool, the key cache kept fresh by a LISTEN connection, the
// batched last-used updates, and the usage ledger.
type database struct {
	s       settings
	pool    *pgxpool.Pool
	listen  *pgx.ConnConfig
	hasher  Hasher
	cache   *keyCache
	lookups singleflight.Group
	used    lastUsed
	ledger  *usage.Ledger

	ctx    context.Context // ends at Destruct
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// subscribed is closed once the listener first listens (after
	// migrating, with migrate_on_start).
	subscribed     chan struct{}
	subscribedOnce sync.Once
	migrated       bool // only the listener goroutine touches it

	// events, when set (by tests), receives "subscribed" each time the
	// listener listens and "evicted <hex digest>" after each announced
	// change.
	events chan string
}

func (db *database) event(name string) {
	if db.events != nil {
		select {
		case db.events <- name:
		default:
		}
	}
}

func logger() *zap.Logger { return caddy.Log().Named("http.xjp_gateway.key_stores.postgres") }

// openDatabase creates the pool without connecting (connections open on
// first use) and starts the background goroutines.
func openDatabase(s settings) (*database, error) {
	db, err := newDatabase(s)
	if err != nil {
		return nil, err
	}
	db.start()
	return db, nil
}

func newDatabase(s settings) (*database, error) {
	cfg, err := pgxpool.ParseConfig(s.DSN)
	if err != nil {
		return nil, fmt.Errorf("bad dsn: %w", err)
	}
	if s.MaxConns > 0 {
		cfg.MaxConns = s.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	db := &database{
		s:          s,
		pool:       pool,
		listen:     cfg.ConnConfig.Copy(),
		hasher:     NewHasher(s.Pepper),
		cache:      newKeyCache(s.CacheTTL, s.NegativeTTL),
		used:       lastUsed{m: make(map[string]time.Time)},
		subscribed: make(chan struct{}),
	}
	db.ledger = usage.NewLedger(pool, usage.Config{
		QueueSize: s.QueueSize, BatchSize: s.BatchSize, FlushInterval: s.FlushInterval,
		ReadTimeout: s.LookupTimeout, Logger: logger,
	})
	db.ctx, db.cancel = context.WithCancel(context.Background())
	return db, nil
}

func (db *database) start() {
	db.wg.Add(2)
	go db.listenLoop()
	go db.housekeeping()
}

// Destruct implements caddy.Destructor. It stops the listener at once;
// then it writes the last uses, and closes the ledger and the pool once
// every request the ledger has begun is recorded. When Caddy exits, the
// servers have finished their requests by now and Destruct waits for the
// writes (at most the ledger's drain timeout when the database is down),
// so no usage row is lost; after a reload that changed the settings, it
// returns at once and the old configuration's last requests finish in
// the background, so a reload never waits for the database.
func (db *database) Destruct() error {
	db.cancel()
	exiting := caddy.Exiting()
	finish := func() {
		db.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		db.writeLastUsed(ctx)
		cancel()
		wait := time.NewTimer(lastRequestsTimeout)
		if exiting {
			wait.Reset(drainTimeout)
		}
		select {
		case <-db.ledger.Idle():
		case <-wait.C:
			logger().Warn("closing the usage ledger with requests still running; their rows are lost")
		}
		wait.Stop()
		db.ledger.Close()
		db.pool.Close()
	}
	if exiting {
		finish()
	} else {
		go finish()
	}
	return nil
}

const (
	// lastRequestsTimeout bounds how long a replaced configuration's
	// ledger waits for its last requests (long streams) before it closes.
	lastRequestsTimeout = time.Hour
	// drainTimeout bounds how long exiting waits for requests stuck past
	// the server's grace period.
	drainTimeout = 15 * time.Second
)

// authenticate implements auth.Store.
func (db *database) authenticate(ctx context.Context, secret string) (*auth.Key, error) {
	if !wellFormed(secret) {
		return nil, auth.ErrUnknownKey
	}
	d := db.hasher.Hash(secret)
	now := time.Now()
	switch key, res := db.cache.get(d, now); res {
	case found:
		db.used.mark(key.ID, now)
		return key, nil
	case unknown:
		return nil, auth.ErrUnknownKey
	}
	// Concurrent requests with the same uncached key share one query.
	v, err, _ := db.lookups.Do(string(d[:]), func() (any, error) { return db.lookup(ctx, d) })
	if err != nil {
		return nil, err
	}
	key := v.(*auth.Key)
	if key == nil {
		return nil, auth.ErrUnknownKey
	}
	db.used.mark(key.ID, now)
	return key, nil
}

// lookup reads the key with digest d and caches the answer. It returns a
// nil key for a secret that is not a valid key.
func (db *database) lookup(ctx context.Context, d digest) (*auth.Key, error) {
	gen := db.cache.generation()
	// The lookup serves every request waiting for it: one client going
	// away does not cancel it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), db.s.LookupTimeout)
	defer cancel()
	var (
		k       auth.Key
		hash    []byte
		enabled bool
		expires pgtype.Timestamptz
	)
	query := func() error {
		return db.pool.QueryRow(ctx, `
SELECT id::text, key_hash, tenant_id, name, scopes, coalesce(rate_limit_rpm, 0), coalesce(rate_limit_tpm, 0),
       coalesce(quota_tokens_daily, 0), enabled, expires_at
FROM api_keys WHERE key_hash = $1`, d[:]).
			Scan(&k.ID, &hash, &k.Tenant, &k.Name, &k.Models, &k.RateLimitRPM, &k.RateLimitTPM, &k.QuotaTokensDaily, &enabled, &expires)
	}
	err := query()
	if brokenConn(err) && ctx.Err() == nil {
		// After an outage the pool may still hold connections the
		// database has dropped; the read is safe to repeat on a new one.
		err = query()
	}
	now := time.Now()
	if errors.Is(err, pgx.ErrNoRows) {
		db.cache.putUnknown(d, gen, now)
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if subtle.ConstantTimeCompare(hash, d[:]) != 1 || !enabled || (expires.Valid && !now.Before(expires.Time)) {
		db.cache.putUnknown(d, gen, now)
		return nil, nil
	}
	var exp time.Time
	if expires.Valid {
		exp = expires.Time
	}
	if len(k.Models) == 0 {
		k.Models = nil
	}
	db.cache.putFound(d, &k, exp, gen, now)
	return &k, nil
}

// brokenConn reports whether err is a failure of the connection rather
// than an answer of the server.
func brokenConn(err error) bool {
	if err == nil || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	return !errors.As(err, &pgErr)
}

// unavailable wraps a database failure as auth.ErrUnavailable (503 for
// the client), with a hint when the schema is missing.
func unavailable(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return fmt.Errorf("%w: the database has no gateway schema; run `caddy xjp migrate` or set migrate_on_start: %w",
			auth.ErrUnavailable, err)
	}
	return fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
}

// housekeeping writes last uses every flush interval and sweeps the
// cache every minute.
func (db *database) housekeeping() {
	defer db.wg.Done()
	flush := time.NewTicker(db.s.FlushInterval)
	defer flush.Stop()
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for {
		select {
		case <-db.ctx.Done():
			return // Destruct writes the last uses
		case <-flush.C:
			ctx, cancel := context.WithTimeout(db.ctx, 10*time.Second)
			db.writeLastUsed(ctx)
			cancel()
		case now := <-sweep.C:
			db.cache.sweep(now)
		}
	}
}

// lastUsed collects when keys were used, for one UPDATE per interval
// instead of one per request.
type lastUsed struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (u *lastUsed) mark(id string, t time.Time) {
	u.mu.Lock()
	if t.After(u.m[id]) {
		u.m[id] = t
	}
	u.mu.Unlock()
}

func (u *lastUsed) take() map[string]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.m) == 0 {
		return nil
	}
	m := u.m
	u.m = make(map[string]time.Time, len(m))
	return m
}

func (db *database) writeLastUsed(ctx context.Context) {
	m := db.used.take()
	if len(m) == 0 {
		return
	}
	ids := make([]string, 0, len(m))
	times := make([]time.Time, 0, len(m))
	for id, t := range m {
		ids = append(ids, id)
		times = append(times, t)
	}
	_, err := db.pool.Exec(ctx, `
UPDATE api_keys AS k SET last_used_at = u.t
FROM unnest($1::text[], $2::timestamptz[]) AS u (id, t)
WHERE k.id = u.id::uuid AND (k.last_used_at IS NULL OR k.last_used_at < u.t)`, ids, times)
	if err != nil {
		for id, t := range m { // try again next time
			db.used.mark(id, t)
		}
		if ctx.Err() == nil {
			logger().Warn("recording when keys were last used failed", zap.Int("keys", len(m)), zap.Error(err))
		}
	}
}
