package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/jackc/pgx/v5"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

func TestSecretFormat(t *testing.T) {
	s := NewSecret()
	if len(s) != SecretLen || SecretLen != 47 || !strings.HasPrefix(s, "XJP_") || !wellFormed(s) {
		t.Fatalf("secret %q (len %d) is not well formed", s, len(s))
	}
	if NewSecret() == s {
		t.Fatal("two equal secrets")
	}
	if p := DisplayPrefix(s); len(p) != 12 || !strings.HasPrefix(s, p) {
		t.Fatalf("display prefix %q", p)
	}
	for _, bad := range []string{"", "XJP_", s[:SecretLen-1], s + "A", "xjp_" + s[4:], s[:20] + "+" + s[21:], s[:20] + "=" + s[21:]} {
		if wellFormed(bad) {
			t.Errorf("wellFormed(%q) = true", bad)
		}
	}
}

func TestHasherPepper(t *testing.T) {
	plain, a, b := NewHasher(""), NewHasher("pepper-a"), NewHasher("pepper-b")
	s := NewSecret()
	if plain.Hash(s) == a.Hash(s) || a.Hash(s) == b.Hash(s) {
		t.Fatal("the pepper does not change the digest")
	}
	if a.Hash(s) != NewHasher("pepper-a").Hash(s) {
		t.Fatal("the digest is not deterministic")
	}
}

// testDB opens a started database on dsn with short intervals and test
// events, closed at the end of the test.
func testDB(t *testing.T, dsn string, tweak ...func(*settings)) *database {
	t.Helper()
	s := settings{
		DSN: dsn, CacheTTL: time.Hour, NegativeTTL: time.Hour, LookupTimeout: 2 * time.Second,
		FlushInterval: time.Hour,
	}
	for _, f := range tweak {
		f(&s)
	}
	db, err := newDatabase(s)
	if err != nil {
		t.Fatal(err)
	}
	db.events = make(chan string, 100)
	db.start()
	t.Cleanup(func() { db.Destruct() })
	return db
}

// evicted is the event of an announced change to the key with secret.
func evicted(secret string) string {
	d := Hasher{}.Hash(secret)
	return "evicted " + hex.EncodeToString(d[:])
}

// await waits for the database to report event. (Other tests' schemas
// share the notification channel: their events are skipped.)
func await(t *testing.T, db *database, event string) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case e := <-db.events:
			if e == event {
				return
			}
		case <-timeout.C:
			t.Fatalf("no %q event within 10s", event)
		}
	}
}

func adminConn(t *testing.T, dsn string) *pgx.Conn { return pgtest.Connect(t, dsn) }

func createKey(t *testing.T, q Queryer, spec KeySpec) *NewKey {
	t.Helper()
	k, err := CreateKey(context.Background(), q, Hasher{}, spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	admin := adminConn(t, dsn)
	db := testDB(t, dsn)
	await(t, db, "subscribed")

	k := createKey(t, admin, KeySpec{Tenant: "acme", Name: "ci", RPM: 30, TPM: 9000, QuotaDaily: 1000, Models: []string{"gpt-*"}})
	got, err := db.authenticate(ctx, k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Key{ID: k.ID, Tenant: "acme", Name: "ci", Models: []string{"gpt-*"}, RateLimitRPM: 30, RateLimitTPM: 9000, QuotaTokensDaily: 1000}
	if got.ID != want.ID || got.Tenant != want.Tenant || got.Name != want.Name || strings.Join(got.Models, ",") != "gpt-*" ||
		got.RateLimitRPM != 30 || got.RateLimitTPM != 9000 || got.QuotaTokensDaily != 1000 {
		t.Fatalf("key = %+v, want %+v", got, want)
	}
	if !got.AllowsModel("gpt-4o") || got.AllowsModel("claude-3") {
		t.Error("model scope not applied")
	}

	for name, secret := range map[string]string{
		"unknown":   NewSecret(),
		"malformed": "sk-not-ours",
		"empty":     "",
	} {
		if _, err := db.authenticate(ctx, secret); !errors.Is(err, auth.ErrUnknownKey) {
			t.Errorf("%s key: %v, want ErrUnknownKey", name, err)
		}
	}

	// last_used_at is written in a batch, not per request.
	var used *time.Time
	admin.QueryRow(ctx, "SELECT last_used_at FROM api_keys WHERE id = $1::text::uuid", k.ID).Scan(&used)
	if used != nil {
		t.Fatal("last_used_at written on the request path")
	}
	db.writeLastUsed(ctx)
	admin.QueryRow(ctx, "SELECT last_used_at FROM api_keys WHERE id = $1::text::uuid", k.ID).Scan(&used)
	if used == nil || time.Since(*used) > time.Minute {
		t.Fatalf("last_used_at = %v after the batch", used)
	}
}

// Every change to a key reaches every instance through NOTIFY, whatever
// its cache TTL; here two instances with hour-long caches.
func TestChangesReachEveryInstance(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	admin := adminConn(t, dsn)
	a, b := testDB(t, dsn), testDB(t, dsn)
	await(t, a, "subscribed")
	await(t, b, "subscribed")

	k := createKey(t, admin, KeySpec{Tenant: "acme"})
	await(t, a, evicted(k.Secret)) // the creation is announced too
	await(t, b, evicted(k.Secret))
	for _, db := range []*database{a, b} {
		if _, err := db.authenticate(ctx, k.Secret); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := RevokeKey(ctx, admin, Hasher{}, k.Prefix); err != nil {
		t.Fatal(err)
	}
	for name, db := range map[string]*database{"a": a, "b": b} {
		await(t, db, evicted(k.Secret))
		if _, err := db.authenticate(ctx, k.Secret); !errors.Is(err, auth.ErrUnknownKey) {
			t.Errorf("instance %s accepts the revoked key: %v", name, err)
		}
	}
}

// A secret cached as unknown works as soon as a key with it is created;
// a cached key stops working as soon as it expires or is rotated.
func TestCacheFollowsTheDatabase(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	admin := adminConn(t, dsn)
	db := testDB(t, dsn)
	await(t, db, "subscribed")

	secret := NewSecret()
	if _, err := db.authenticate(ctx, secret); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatal(err)
	}
	d := Hasher{}.Hash(secret)
	if _, err := admin.Exec(ctx, "INSERT INTO api_keys (key_hash, key_prefix, tenant_id) VALUES ($1, $2, 't')",
		d[:], DisplayPrefix(secret)); err != nil {
		t.Fatal(err)
	}
	await(t, db, evicted(secret))
	key, err := db.authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("a key created after a failed attempt: %v", err)
	}

	if _, err := admin.Exec(ctx, "UPDATE api_keys SET expires_at = now() - interval '1 second'"); err != nil {
		t.Fatal(err)
	}
	await(t, db, evicted(secret))
	if _, err := db.authenticate(ctx, secret); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("expired key: %v", err)
	}
	if _, err := admin.Exec(ctx, "UPDATE api_keys SET expires_at = NULL"); err != nil {
		t.Fatal(err)
	}
	await(t, db, evicted(secret))
	if _, err := db.authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	// A new tokens-per-minute limit is announced like the other limits.
	if _, err := admin.Exec(ctx, "UPDATE api_keys SET rate_limit_tpm = 5000"); err != nil {
		t.Fatal(err)
	}
	await(t, db, evicted(secret))
	if k, err := db.authenticate(ctx, secret); err != nil || k.RateLimitTPM != 5000 {
		t.Fatalf("after a new tokens-per-minute limit: %+v, %v", k, err)
	}

	rotated, err := RotateKey(ctx, admin, Hasher{}, key.ID)
	if err != nil {
		t.Fatal(err)
	}
	await(t, db, evicted(secret))
	if _, err := db.authenticate(ctx, secret); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("the old secret after rotation: %v", err)
	}
	if k, err := db.authenticate(ctx, rotated.Secret); err != nil || k.ID != key.ID {
		t.Fatalf("the new secret: %v, %v", k, err)
	}
}

// With the database down, cached keys keep working, other keys get
// ErrUnavailable (never access), junk is still refused; when it is back,
// the listener resubscribes and revocations are heard again.
func TestDatabaseDown(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	admin := adminConn(t, dsn)
	proxy := pgtest.NewProxy(t, pgtest.Host(t, dsn))
	db := testDB(t, pgtest.WithHost(t, dsn, proxy.Addr()))
	await(t, db, "subscribed")

	cached := createKey(t, admin, KeySpec{Tenant: "acme"})
	uncached := createKey(t, admin, KeySpec{Tenant: "acme"})
	// Let the announcements of the creations pass, lest one evict the
	// key cached below.
	await(t, db, evicted(cached.Secret))
	await(t, db, evicted(uncached.Secret))
	if _, err := db.authenticate(ctx, cached.Secret); err != nil {
		t.Fatal(err)
	}

	proxy.Stop()
	if _, err := db.authenticate(ctx, cached.Secret); err != nil {
		t.Errorf("cached key with the database down: %v", err)
	}
	_, err := db.authenticate(ctx, uncached.Secret)
	if !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("uncached key with the database down: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), uncached.Secret) {
		t.Error("the error carries the secret")
	}
	if _, err := db.authenticate(ctx, "sk-junk"); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("junk key with the database down: %v", err)
	}

	proxy.Start()
	await(t, db, "subscribed")
	if _, err := db.authenticate(ctx, uncached.Secret); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if _, err := RevokeKey(ctx, admin, Hasher{}, uncached.ID); err != nil {
		t.Fatal(err)
	}
	await(t, db, evicted(uncached.Secret))
	if _, err := db.authenticate(ctx, uncached.Secret); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("revocation after the listener reconnected: %v", err)
	}
}

func TestMissingSchemaIsExplained(t *testing.T) {
	db := testDB(t, pgtest.Schema(t))
	_, err := db.authenticate(context.Background(), NewSecret())
	if !errors.Is(err, auth.ErrUnavailable) || !strings.Contains(err.Error(), "caddy xjp migrate") {
		t.Fatalf("err = %v", err)
	}
}

func TestMigrateOnStart(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	db := testDB(t, dsn, func(s *settings) { s.Migrate = true })
	<-db.subscribed
	k := createKey(t, adminConn(t, dsn), KeySpec{Tenant: "acme"})
	if _, err := db.authenticate(ctx, k.Secret); err != nil {
		t.Fatal(err)
	}
}

// The module: placeholders resolved, one database shared by equal
// configurations (a reload), a new one for changed settings.
func TestStoreProvisionSharesTheDatabase(t *testing.T) {
	dsn := pgtest.Migrated(t)
	t.Setenv("XJP_TEST_STORE_DSN", dsn)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()

	provision := func(s *Store) *Store {
		t.Helper()
		if err := s.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := provision(&Store{DSN: "{env.XJP_TEST_STORE_DSN}"})
	b := provision(&Store{DSN: "{env.XJP_TEST_STORE_DSN}"})
	c := provision(&Store{DSN: "{env.XJP_TEST_STORE_DSN}", CacheTTL: caddy.Duration(time.Minute)})
	if a.db != b.db {
		t.Error("equal settings got two databases")
	}
	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		found = found || f.GetName() == "xjp_usage_log_dropped_total"
	}
	if !found {
		t.Error("xjp_usage_log_dropped_total is not in Caddy's metrics registry")
	}
	if a.db == c.db {
		t.Error("changed settings share a database")
	}
	k := createKey(t, adminConn(t, dsn), KeySpec{Tenant: "acme"})
	if _, err := b.Authenticate(context.Background(), k.Secret); err != nil {
		t.Fatal(err)
	}
	keys := []string{a.poolKey, c.poolKey}
	for _, s := range []*Store{a, b, c} {
		if err := s.Cleanup(); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range keys {
		if n, ok := databases.References(key); ok {
			t.Errorf("database %s still pooled (%d references) after every store was cleaned up", key, n)
		}
	}

	err = (&Store{DSN: "{env.XJP_TEST_UNSET_VARIABLE}"}).Provision(ctx)
	if err == nil || !strings.Contains(err.Error(), "dsn is empty") {
		t.Errorf("empty DSN: %v", err)
	}
}

// The cost of authenticating a cached key: the request path when the
// database is not asked.
func BenchmarkAuthenticateCached(b *testing.B) {
	dsn := pgtest.Migrated(b)
	conn := pgtest.Connect(b, dsn)
	k, err := CreateKey(context.Background(), conn, NewHasher("pepper"), KeySpec{Tenant: "acme"})
	if err != nil {
		b.Fatal(err)
	}
	db, err := newDatabase(settings{DSN: dsn, CacheTTL: time.Hour, NegativeTTL: time.Hour, LookupTimeout: time.Second,
		FlushInterval: time.Hour, Pepper: "pepper"})
	if err != nil {
		b.Fatal(err)
	}
	db.start()
	defer db.Destruct()
	<-db.subscribed
	ctx := context.Background()
	if _, err := db.authenticate(ctx, k.Secret); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := db.authenticate(ctx, k.Secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}
