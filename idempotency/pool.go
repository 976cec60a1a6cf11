package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
)

// pool holds what outlives one configuration: the memory store (so a
// reload keeps the stored responses and the running claims) and the
// Redis clients (so a reload keeps their connections).
var pool = caddy.NewUsagePool()

// memoryKey names the process's one memory store: keys are scoped by
// tenant, so every gateway handler can share it.
const memoryKey = "xjp_gateway.idempotency.memory"

// AcquireMemory returns the process's memory store, bounded to capacity
// bytes (the last configuration loaded sets the bound). Call release
// when the configuration that acquired it is cleaned up.
func AcquireMemory(capacity int64) (m *Memory, release func() error, err error) {
	v, _, err := pool.LoadOrNew(memoryKey, func() (caddy.Destructor, error) {
		return NewMemory(capacity, nil), nil
	})
	if err != nil {
		return nil, nil, err
	}
	m = v.(*Memory)
	m.SetCapacity(capacity)
	return m, releaser(memoryKey), nil
}

type pooledClient struct{ *redis.Client }

func (c pooledClient) Destruct() error { return c.Close() }

// AcquireRedis returns a client of the Redis server at url (redis:// or
// rediss://), shared by every configuration naming the same url. It does
// not connect: the client connects on first use.
func AcquireRedis(url string) (client *redis.Client, release func() error, err error) {
	sum := sha256.Sum256([]byte(url)) // the url may hold a password
	key := "xjp_gateway.idempotency.redis." + hex.EncodeToString(sum[:12])
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("bad Redis url: %w", scrub(err, url))
		}
		return pooledClient{redis.NewClient(opt)}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return v.(pooledClient).Client, releaser(key), nil
}

func releaser(key string) func() error {
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() { _, err = pool.Delete(key) })
		return err
	}
}

// scrub keeps a url, which may hold a password, out of an error.
func scrub(err error, url string) error {
	return errors.New(strings.ReplaceAll(err.Error(), url, "[url]"))
}
