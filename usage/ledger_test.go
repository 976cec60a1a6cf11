package usage

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// insertKey adds a key row and returns its id.
func insertKey(t *testing.T, pool *pgxpool.Pool, tenant string) string {
	t.Helper()
	hash := make([]byte, 32)
	rand.Read(hash)
	var id string
	err := pool.QueryRow(context.Background(),
		"INSERT INTO api_keys (key_hash, key_prefix, tenant_id) VALUES ($1, 'XJP_test', $2) RETURNING id::text",
		hash, tenant).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func record(key string, i, prompt, completion int) *Record {
	return &Record{
		Time: time.Now(), RequestID: fmt.Sprintf("req-%d", i), Tenant: "acme", KeyID: key,
		Model: "echo-1", Provider: "echo", UpstreamModel: "echo-1", Dialect: "openai", Status: 200,
		PromptTokens: prompt, CompletionTokens: completion, CachedTokens: 1,
		Latency: 1500 * time.Microsecond, TTFT: 700 * time.Microsecond, Attempts: 1,
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLedgerWritesRowsAndCharges(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, pgtest.Migrated(t))
	key := insertKey(t, pool, "acme")
	l := NewLedger(pool, Config{FlushInterval: time.Hour})
	defer l.Close()

	for i := range 3 {
		l.Begin()
		l.Record(record(key, i, 10, 5))
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var (
		rows                     int
		prompt, completion, cach int
		latency, ttft            int
		status, attempts         int
		tenant, dialect, keyID   string
	)
	err := pool.QueryRow(ctx, `SELECT count(*), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),
		max(latency_ms), max(ttft_ms), max(status), max(attempts), max(tenant_id), max(dialect), max(key_id::text)
		FROM usage_logs`).Scan(&rows, &prompt, &completion, &cach, &latency, &ttft, &status, &attempts, &tenant, &dialect, &keyID)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 || prompt != 30 || completion != 15 || cach != 3 || latency != 1 || ttft != 0 ||
		status != 200 || attempts != 1 || tenant != "acme" || dialect != "openai" || keyID != key {
		t.Errorf("rows %d prompt %d completion %d cached %d latency %d ttft %d status %d attempts %d tenant %s dialect %s key %s",
			rows, prompt, completion, cach, latency, ttft, status, attempts, tenant, dialect, keyID)
	}
	if n := count(t, pool, "SELECT tokens FROM key_daily_tokens WHERE key_id = $1::text::uuid", key); n != 45 {
		t.Errorf("daily tokens = %d, want 45", n)
	}
	if n, err := l.TokensToday(ctx, key); err != nil || n != 45 {
		t.Errorf("TokensToday = %d, %v; want 45", n, err)
	}
}

// A charge counts at once on the instance that made it, and once only
// after it is written.
func TestLedgerCountsLocalChargesAtOnce(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, pgtest.Migrated(t))
	key := insertKey(t, pool, "acme")
	if _, err := pool.Exec(ctx, "INSERT INTO key_daily_tokens VALUES ($1::text::uuid, (now() AT TIME ZONE 'utc')::date, 100)", key); err != nil {
		t.Fatal(err)
	}
	l := NewLedger(pool, Config{FlushInterval: time.Hour})
	defer l.Close()

	if n, err := l.TokensToday(ctx, key); err != nil || n != 100 {
		t.Fatalf("cold read = %d, %v; want 100 from the database", n, err)
	}
	l.Begin()
	l.Record(record(key, 1, 7, 3))
	if n, _ := l.TokensToday(ctx, key); n != 110 {
		t.Fatalf("after a local charge = %d, want 110", n)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := l.TokensToday(ctx, key); n != 110 {
		t.Fatalf("after the write = %d, want 110 (no double count)", n)
	}
}

// Charges made by another instance count here after a refresh.
func TestLedgerSeesOtherInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	poolA, poolB := newPool(t, dsn), newPool(t, dsn)
	key := insertKey(t, poolA, "acme")
	a := NewLedger(poolA, Config{FlushInterval: time.Hour})
	defer a.Close()
	b := NewLedger(poolB, Config{FlushInterval: time.Hour})
	defer b.Close()

	if n, _ := b.TokensToday(ctx, key); n != 0 {
		t.Fatalf("B before = %d", n)
	}
	a.Begin()
	a.Record(record(key, 1, 20, 20))
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil { // B's refresh
		t.Fatal(err)
	}
	if n, _ := b.TokensToday(ctx, key); n != 40 {
		t.Fatalf("B after A's charge = %d, want 40", n)
	}
}

// Every record is either written or counted as dropped, even when Close
// comes in the middle of the load; once Close returns everything
// accepted is in the database.
func TestLedgerLosesNoRowOnClose(t *testing.T) {
	pool := newPool(t, pgtest.Migrated(t))
	key := insertKey(t, pool, "acme")
	l := NewLedger(pool, Config{FlushInterval: time.Hour, BatchSize: 64, QueueSize: 100000})

	const writers, each = 8, 400
	var wg sync.WaitGroup
	started := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if w == 0 && i == each/2 {
					close(started)
				}
				l.Begin()
				l.Record(record(key, w*each+i, 1, 1))
			}
		})
	}
	<-started
	l.Close() // with records still arriving
	wg.Wait()

	written := count(t, pool, "SELECT count(*) FROM usage_logs")
	if written+int64(l.Dropped()) != writers*each {
		t.Fatalf("written %d + dropped %d != recorded %d", written, l.Dropped(), writers*each)
	}
	if written < writers*each/(2*writers) {
		t.Fatalf("only %d rows written before close", written)
	}
	if got := count(t, pool, "SELECT tokens FROM key_daily_tokens"); got < 2*written {
		t.Errorf("daily tokens %d < charges of written rows %d", got, 2*written)
	}
}

// A full queue drops the row, never blocks, and counts the drop; the
// charge still counts.
func TestLedgerFullQueueDrops(t *testing.T) {
	pool := newPool(t, pgtest.Migrated(t))
	key := insertKey(t, pool, "acme")
	l := newLedger(pool, Config{QueueSize: 2, FlushInterval: time.Hour}) // writer not started yet
	for i := range 5 {
		l.Begin()
		l.Record(record(key, i, 1, 0))
	}
	if l.Dropped() != 3 {
		t.Fatalf("dropped = %d, want 3", l.Dropped())
	}
	go l.run()
	l.Close()
	if n := count(t, pool, "SELECT count(*) FROM usage_logs"); n != 2 {
		t.Errorf("rows = %d, want the 2 queued", n)
	}
	if n := count(t, pool, "SELECT tokens FROM key_daily_tokens"); n != 5 {
		t.Errorf("daily tokens = %d, want 5: a dropped row is still charged", n)
	}
}

// While the database is down, rows wait (the queue absorbs them); when it
// is back, they are written.
func TestLedgerSurvivesOutage(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	direct := newPool(t, dsn)
	key := insertKey(t, direct, "acme")
	proxy := pgtest.NewProxy(t, pgtest.Host(t, dsn))
	pool := newPool(t, pgtest.WithHost(t, dsn, proxy.Addr()))
	l := NewLedger(pool, Config{FlushInterval: time.Hour})
	defer l.Close()

	proxy.Stop()
	for i := range 10 {
		l.Begin()
		l.Record(record(key, i, 2, 2))
	}
	if err := l.Flush(ctx); err == nil {
		t.Fatal("flush succeeded with the database down")
	}
	proxy.Start()
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("flush after recovery: %v", err)
	}
	if n := count(t, direct, "SELECT count(*) FROM usage_logs"); n != 10 {
		t.Errorf("rows = %d, want 10", n)
	}
	if n := count(t, direct, "SELECT tokens FROM key_daily_tokens"); n != 40 {
		t.Errorf("daily tokens = %d, want 40", n)
	}
	if l.Dropped() != 0 {
		t.Errorf("dropped = %d", l.Dropped())
	}
}

// Closing while the database is down gives up after DrainTimeout and
// counts what it could not write.
func TestLedgerCloseWithDatabaseDown(t *testing.T) {
	dsn := pgtest.Migrated(t)
	proxy := pgtest.NewProxy(t, pgtest.Host(t, dsn))
	pool := newPool(t, pgtest.WithHost(t, dsn, proxy.Addr()))
	proxy.Stop()
	l := NewLedger(pool, Config{FlushInterval: time.Hour, DrainTimeout: 200 * time.Millisecond})
	for i := range 4 {
		l.Begin()
		l.Record(record("", i, 1, 1))
	}
	l.Close()
	if l.Dropped() != 4 {
		t.Fatalf("dropped = %d, want 4", l.Dropped())
	}
}

func TestLedgerIdleWaitsForBegunRequests(t *testing.T) {
	pool := newPool(t, pgtest.Migrated(t))
	l := NewLedger(pool, Config{FlushInterval: time.Hour})
	defer l.Close()
	l.Begin()
	idle := l.Idle()
	select {
	case <-idle:
		t.Fatal("idle with a request in flight")
	default:
	}
	l.Record(record("", 1, 0, 0))
	<-idle
}

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"0f8fad5b-d9cb-469f-a165-70867728950e": true,
		"0F8FAD5B-D9CB-469F-A165-70867728950E": true,
		"static-0123456789ab":                  false,
		"0f8fad5b-d9cb-469f-a165-70867728950":  false,
		"0f8fad5bxd9cb-469f-a165-70867728950e": false,
		"0f8fad5b-d9cb-469f-a165-70867728950g": false,
		"":                                     false,
	} {
		if isUUID(s) != want {
			t.Errorf("isUUID(%q) = %v", s, !want)
		}
	}
}

// The cost of handing a record to the ledger on the request path. A
// goroutine that only empties the queue stands in for the writer, so
// that its COPY (and the database) do not share the CPU.
func BenchmarkRecord(b *testing.B) {
	l := newLedger(nil, Config{FlushInterval: time.Hour})
	drained := make(chan struct{})
	go func() {
		for range l.queue {
		}
		close(drained)
	}()
	rec := record("0f8fad5b-d9cb-469f-a165-70867728950e", 1, 10, 10)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Begin()
			l.Record(rec)
		}
	})
	b.StopTimer()
	close(l.queue)
	<-drained
}
