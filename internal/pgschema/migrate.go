// Package pgschema holds the gateway's PostgreSQL schema as versioned SQL
// migrations embedded in the binary, and applies them.
//
// Migrations are files migrations/NNNN_name.sql, applied in order, each
// once: the versions applied are recorded in schema_migrations. All
// pending migrations run in one transaction under an advisory lock, so
// gateways starting together with migrate_on_start and a concurrent
// `caddy xjp migrate` serialize, and a failed migration leaves nothing
// behind. Tables are created unqualified, in the first schema of the
// connection's search_path.
package pgschema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var files embed.FS

// Channel is the LISTEN/NOTIFY channel on which changes to api_keys are
// announced, with the hex SHA-256 (or HMAC) of the changed key as payload.
const Channel = "xjp_api_keys"

// lockID is the advisory lock migrations hold ("xjp-schema").
const lockID int64 = 0x786a702d736368

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() []Migration {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		panic(err) // embedded at build time
	}
	out := make([]Migration, 0, len(entries))
	for _, e := range entries {
		base := strings.TrimSuffix(e.Name(), ".sql")
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			panic("pgschema: bad migration file name " + e.Name())
		}
		sql, err := files.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(sql)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := range out {
		if out[i].Version != i+1 {
			panic(fmt.Sprintf("pgschema: migration versions must be 1, 2, 3, …; found %d at position %d", out[i].Version, i+1))
		}
	}
	return out
}

// Latest is the version the embedded migrations bring a database to.
func Latest() int { return len(Migrations()) }

// Beginner starts transactions: a *pgx.Conn, *pgxpool.Pool or pgx.Tx.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Result says what Migrate did.
type Result struct {
	// Applied are the versions applied by this call, in order.
	Applied []int
	// Version is the schema version after the call.
	Version int
}

// Migrate applies every pending migration. It is idempotent: on an
// up-to-date database it applies nothing.
func Migrate(ctx context.Context, db Beginner) (Result, error) {
	var res Result
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockID); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		current, err := version(ctx, tx)
		if err != nil {
			return err
		}
		res.Version = current
		for _, m := range Migrations() {
			if m.Version <= current {
				continue
			}
			// No arguments: the simple protocol runs a file of several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return fmt.Errorf("recording migration %d: %w", m.Version, err)
			}
			res.Applied = append(res.Applied, m.Version)
			res.Version = m.Version
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// Querier runs a query: a *pgx.Conn, *pgxpool.Pool or pgx.Tx.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Version returns the schema version of the database: 0 when it was never
// migrated.
func Version(ctx context.Context, q Querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	return version(ctx, q)
}

func version(ctx context.Context, q Querier) (int, error) {
	var v int
	if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	return v, nil
}
