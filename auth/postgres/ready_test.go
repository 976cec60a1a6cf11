package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// TestReady: the store is ready while its database answers with the
// gateway's schema, and not while the database is down or unmigrated.
func TestReady(t *testing.T) {
	old := readyCacheFor
	readyCacheFor = 0 // every probe asks the database
	t.Cleanup(func() { readyCacheFor = old })
	ctx := context.Background()

	dsn := pgtest.Migrated(t)
	proxy := pgtest.NewProxy(t, pgtest.Host(t, dsn))
	s := &Store{db: testDB(t, pgtest.WithHost(t, dsn, proxy.Addr())), ready: new(readiness)}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("with the database up: %v", err)
	}
	proxy.Stop()
	if err := s.Ready(ctx); err == nil {
		t.Error("ready with the database down")
	}
	proxy.Start()
	if err := s.Ready(ctx); err != nil {
		t.Errorf("after the database came back: %v", err)
	}

	unmigrated := &Store{db: testDB(t, pgtest.Schema(t)), ready: new(readiness)}
	if err := unmigrated.Ready(ctx); err == nil {
		t.Error("ready without the schema")
	}
}

// TestReadyIsCached: within readyCacheFor a probe answers from the last
// one, without the database; once it has passed, the database is asked.
func TestReadyIsCached(t *testing.T) {
	old := readyCacheFor
	readyCacheFor = time.Hour
	t.Cleanup(func() { readyCacheFor = old })
	ctx := context.Background()

	dsn := pgtest.Migrated(t)
	proxy := pgtest.NewProxy(t, pgtest.Host(t, dsn))
	s := &Store{db: testDB(t, pgtest.WithHost(t, dsn, proxy.Addr())), ready: new(readiness)}
	if err := s.Ready(ctx); err != nil {
		t.Fatalf("with the database up: %v", err)
	}
	proxy.Stop()
	if err := s.Ready(ctx); err != nil {
		t.Errorf("a cached answer asked the database: %v", err)
	}
	s.ready.at = s.ready.at.Add(-readyCacheFor) // the cached answer expires
	if err := s.Ready(ctx); err == nil {
		t.Error("an expired answer was served from the cache")
	}
}
