// Package postgres is the key store "postgres": API keys, tenants,
// per-key limits, usage logs and daily token counters in PostgreSQL
// (Caddy module http.xjp_gateway.key_stores.postgres), and the key
// management the `caddy xjp` command runs.
//
// Authentication stays off the database on the hot path: keys found are
// cached for cache_ttl and secrets not found for negative_cache_ttl. Every
// change to a key is announced with NOTIFY (a trigger on api_keys), and a
// LISTEN connection per instance evicts the key at once, so a revoked key
// stops working everywhere within moments. When the database cannot be
// reached, cached keys keep working until their entry expires and other
// keys get 503: the store never fails open.
package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/usage"
)

func init() { caddy.RegisterModule(Store{}) }

// Store is the key store "postgres".
type Store struct {
	// DSN is the PostgreSQL connection string (URL or key=value form).
	// Write it as {env.XJP_DATABASE_URL} or {file./path}: it is resolved
	// when the config loads and never appears in the adapted JSON.
	// Required.
	DSN string `json:"dsn,omitempty"`

	// MaxConns is the size of the connection pool. Default: pgx's, the
	// greater of 4 and the number of CPUs.
	MaxConns int `json:"max_conns,omitempty"`

	// CacheTTL is how long a key found in the database is trusted
	// without asking again; a revocation announced by the database
	// evicts it sooner. While the database is unreachable, cached keys
	// keep working until their entry expires. Default: 30s.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`

	// NegativeCacheTTL is how long a key not found is refused without
	// asking again. A key created meanwhile is announced and works at
	// once. Default: 5s.
	NegativeCacheTTL caddy.Duration `json:"negative_cache_ttl,omitempty"`

	// LookupTimeout bounds a database lookup made for a request; past
	// it the client gets 503. Default: 2s.
	LookupTimeout caddy.Duration `json:"lookup_timeout,omitempty"`

	// Pepper, when set, makes the stored hashes HMAC-SHA-256 keyed with
	// it instead of SHA-256. Keep it outside the database, as
	// {env.XJP_KEY_PEPPER}; `caddy xjp` reads the same variable, and
	// changing it invalidates every key.
	Pepper string `json:"pepper,omitempty"`

	// MigrateOnStart applies pending schema migrations when the store
	// first connects, in the background (requests get 503 until the
	// schema exists). Without it, run `caddy xjp migrate`.
	MigrateOnStart bool `json:"migrate_on_start,omitempty"`

	// Usage tunes how usage-log rows and token charges are written.
	Usage *UsageConfig `json:"usage,omitempty"`

	db      *database
	poolKey string
	logger  *zap.Logger
	ready   *readiness // the last readiness probe (ready.go); set by Provision
}

// UsageConfig tunes the usage ledger.
type UsageConfig struct {
	// QueueSize is how many rows may wait for the writer; past it rows
	// are dropped (requests never wait), counted in
	// xjp_usage_log_dropped_total and logged. Default: 10000.
	QueueSize int `json:"queue_size,omitempty"`
	// BatchSize is the most rows one COPY carries. Default: 500.
	BatchSize int `json:"batch_size,omitempty"`
	// FlushInterval is how often queued rows, token charges and last-use
	// times are written, and how often the token counters of keys in use
	// are reread (charges of other instances become visible after at
	// most about two intervals). Default: 1s.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`
}

// Defaults.
const (
	defaultCacheTTL      = 30 * time.Second
	defaultNegativeTTL   = 5 * time.Second
	defaultLookupTimeout = 2 * time.Second
	defaultFlushInterval = time.Second
)

// CaddyModule returns the Caddy module information.
func (Store) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.key_stores.postgres",
		New: func() caddy.Module { return new(Store) },
	}
}

// Provision resolves the DSN and pepper and acquires the shared database.
// It does not connect: the pool connects on first use.
func (s *Store) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	s.ready = new(readiness)
	set, err := s.settings()
	if err != nil {
		return err
	}
	if err := usage.RegisterMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	key := set.poolKey()
	v, loaded, err := databases.LoadOrNew(key, func() (caddy.Destructor, error) {
		return openDatabase(set)
	})
	if err != nil {
		return fmt.Errorf("postgres key store: %w", err)
	}
	s.poolKey, s.db = key, v.(*database)
	s.logger.Debug("key store database", zap.String("pool", key), zap.Bool("reused", loaded))
	return nil
}

func (s *Store) settings() (settings, error) {
	repl := caddy.NewReplacer()
	set := settings{
		DSN:           strings.TrimSpace(repl.ReplaceAll(s.DSN, "")),
		Pepper:        repl.ReplaceAll(s.Pepper, ""),
		MaxConns:      int32(s.MaxConns),
		CacheTTL:      durationOr(s.CacheTTL, defaultCacheTTL),
		NegativeTTL:   durationOr(s.NegativeCacheTTL, defaultNegativeTTL),
		LookupTimeout: durationOr(s.LookupTimeout, defaultLookupTimeout),
		Migrate:       s.MigrateOnStart,
		FlushInterval: defaultFlushInterval,
	}
	if set.DSN == "" {
		return set, fmt.Errorf("postgres key store: the dsn is empty (is its environment variable set?)")
	}
	if s.Pepper != "" && set.Pepper == "" {
		return set, fmt.Errorf("postgres key store: the pepper is empty (is its environment variable set?)")
	}
	if s.MaxConns < 0 {
		return set, fmt.Errorf("postgres key store: max_conns must be positive")
	}
	if u := s.Usage; u != nil {
		set.QueueSize, set.BatchSize = u.QueueSize, u.BatchSize
		set.FlushInterval = durationOr(u.FlushInterval, defaultFlushInterval)
	}
	return set, nil
}

func durationOr(d caddy.Duration, def time.Duration) time.Duration {
	if d > 0 {
		return time.Duration(d)
	}
	return def
}

// Cleanup releases the shared database: the last configuration using it
// closes it (after writing what is queued). A reload that keeps the
// settings keeps it open; queued rows are written soon either way.
func (s *Store) Cleanup() error {
	if s.poolKey == "" {
		return nil
	}
	// s.db stays set: a request of this configuration still running
	// may authenticate (and gets 503 once the database is closed).
	s.db.ledger.Nudge()
	_, err := databases.Delete(s.poolKey)
	s.poolKey = ""
	return err
}

// Authenticate implements auth.Store.
func (s *Store) Authenticate(ctx context.Context, secret string) (*auth.Key, error) {
	return s.db.authenticate(ctx, secret)
}

// Accountant implements usage.Provider.
func (s *Store) Accountant() usage.Accountant { return s.db.ledger }

// Interface guards
var (
	_ auth.Store         = (*Store)(nil)
	_ usage.Provider     = (*Store)(nil)
	_ caddy.Provisioner  = (*Store)(nil)
	_ caddy.CleanerUpper = (*Store)(nil)
)
