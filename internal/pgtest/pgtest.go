// Package pgtest gives tests a PostgreSQL schema of their own on the
// real server (XJP_TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/test), and a TCP proxy that can
// take the database "down" for one client without touching the server.
//
// A test that needs PostgreSQL fails, loudly, when the server is
// unreachable: it is never skipped.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xiaojinpro/xjp-gateway/internal/pgschema"
)

// DefaultURL is the test server when XJP_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test"

// ServerURL is the test server's connection string.
func ServerURL() string {
	if u := os.Getenv("XJP_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Connect opens a connection to the test server (default schema) or
// fails the test.
func Connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("PostgreSQL is unreachable (%v). Start it, or point XJP_TEST_DATABASE_URL at a server (default %s)", err, DefaultURL)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Schema creates an empty schema for the test, drops it when the test
// ends, and returns a connection string whose sessions use it (through
// search_path).
func Schema(t testing.TB) string {
	t.Helper()
	admin := Connect(t, ServerURL())
	name := "xjp_test_" + strings.ToLower(rand.Text()[:12])
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("creating schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		// A fresh connection: the test's own may be closed by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	return WithParam(ServerURL(), "search_path", name)
}

// Migrated is Schema with the gateway's migrations applied.
func Migrated(t testing.TB) string {
	t.Helper()
	dsn := Schema(t)
	conn := Connect(t, dsn)
	if _, err := pgschema.Migrate(context.Background(), conn); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return dsn
}

// WithParam returns dsn (a URL or key=value string) with a connection
// parameter set.
func WithParam(dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return fmt.Sprintf("%s %s=%s", dsn, key, value)
}

// WithHost returns the URL dsn pointed at host:port instead.
func WithHost(t testing.TB, dsn, hostport string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest.WithHost needs a postgres:// URL, got %q", dsn)
	}
	u.Host = hostport
	return u.String()
}

// Host returns the host:port of the URL dsn.
func Host(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Fatalf("pgtest.Host needs a postgres:// URL, got %q", dsn)
	}
	if u.Port() == "" {
		return u.Host + ":5432"
	}
	return u.Host
}
