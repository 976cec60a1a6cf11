package pgschema_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xiaojinpro/xjp-gateway/internal/pgschema"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

func TestMigrateFromEmptyAndAgain(t *testing.T) {
	ctx := context.Background()
	conn := pgtest.Connect(t, pgtest.Schema(t))

	v, err := pgschema.Version(ctx, conn)
	if err != nil || v != 0 {
		t.Fatalf("fresh schema: version %d, %v; want 0", v, err)
	}
	res, err := pgschema.Migrate(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]int, pgschema.Latest())
	for i := range all {
		all[i] = i + 1
	}
	if !slices.Equal(res.Applied, all) || res.Version != pgschema.Latest() {
		t.Fatalf("first run = %+v, want every migration applied", res)
	}
	for _, table := range []string{"api_keys", "usage_logs", "key_daily_tokens", "schema_migrations"} {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing after migration (%v)", table, err)
		}
	}

	res, err = pgschema.Migrate(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || res.Version != pgschema.Latest() {
		t.Fatalf("second run = %+v, want nothing applied", res)
	}
	if v, _ := pgschema.Version(ctx, conn); v != pgschema.Latest() {
		t.Fatalf("version = %d", v)
	}
}

// Gateways started together with migrate_on_start race to migrate; the
// advisory lock makes exactly one of them apply each migration.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	const n = 4
	results := make([]pgschema.Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = pgschema.Migrate(ctx, pool) })
	}
	wg.Wait()
	applied := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		applied += len(results[i].Applied)
	}
	if applied != pgschema.Latest() {
		t.Fatalf("%d migrations applied in total, want %d (each exactly once)", applied, pgschema.Latest())
	}
}

func TestKeyChangesAreAnnounced(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	listener := pgtest.Connect(t, dsn)
	writer := pgtest.Connect(t, dsn)
	if _, err := listener.Exec(ctx, "LISTEN "+pgschema.Channel); err != nil {
		t.Fatal(err)
	}
	hash := make([]byte, 32)
	hash[0] = 0xab
	if _, err := writer.Exec(ctx, "INSERT INTO api_keys (key_hash, key_prefix, tenant_id) VALUES ($1, 'XJP_x', 't')", hash); err != nil {
		t.Fatal(err)
	}
	const want = "ab"
	expect := func(what string) {
		t.Helper()
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n.Channel != pgschema.Channel || n.Payload[:2] != want || len(n.Payload) != 64 {
			t.Fatalf("%s: notification %+v", what, n)
		}
	}
	expect("insert")
	// last_used_at is not announced: gateways would otherwise drop their
	// cache every time they record a use. The next notification must be
	// the one for the revocation below.
	if _, err := writer.Exec(ctx, "UPDATE api_keys SET last_used_at = now()"); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Exec(ctx, "UPDATE api_keys SET enabled = false"); err != nil {
		t.Fatal(err)
	}
	expect("revocation")
	if _, err := writer.Exec(ctx, "DELETE FROM api_keys"); err != nil {
		t.Fatal(err)
	}
	expect("delete")
}
