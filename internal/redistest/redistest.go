// Package redistest gives tests the real Redis server
// (XJP_TEST_REDIS_URL, default redis://127.0.0.1:6379/0), a key prefix
// of their own whose keys are deleted when the test ends, and a TCP
// proxy that can take Redis "down" for the clients that use it.
//
// A test that needs Redis fails, loudly, when the server is
// unreachable: it is never skipped.
package redistest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// DefaultURL is the test server when XJP_TEST_REDIS_URL is unset.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL is the test server's url.
func URL() string {
	if u := os.Getenv("XJP_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Client connects to the test server and returns a client and a key
// prefix of the test's own, whose keys are deleted when the test ends.
func Client(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(URL())
	if err != nil {
		t.Fatalf("XJP_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s is not reachable (start it, or set XJP_TEST_REDIS_URL): %v", URL(), err)
	}
	prefix := "xjp-test:" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		var keys []string
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		err := iter.Err()
		if err == nil && len(keys) > 0 {
			err = client.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("cleaning up %s*: %v", prefix, err)
		}
		client.Close()
	})
	return client, prefix
}

// Proxy forwards connections to the test server; Stop takes Redis down
// for its clients, Start brings it back. It returns the proxy and the
// url that reaches Redis through it.
func Proxy(t testing.TB) (*pgtest.Proxy, string) {
	t.Helper()
	u, err := url.Parse(URL())
	if err != nil {
		t.Fatalf("XJP_TEST_REDIS_URL: %v", err)
	}
	host := u.Host
	if u.Port() == "" {
		host += ":6379"
	}
	p := pgtest.NewProxy(t, host)
	u.Host = p.Addr()
	return p, u.String()
}
