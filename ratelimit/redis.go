package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/xiaojinpro/xjp-gateway/internal/logthrottle"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Redis is the cluster limiter: the budgets of every gateway instance
// that uses the same Redis server and prefix are one. Each admission is
// one script call (admitScript), each settlement another.
//
// When Redis fails, Admit and Settle return an error wrapping
// ErrUnavailable, count it in xjp_ratelimit_store_failureLogtotal and log
// it (once per logEvery at most); the caller applies its failure
// policy. After backoffAfter failures in a row the limiter leaves Redis
// alone for Backoff, answering ErrUnavailable at once, then lets one
// request try again. (A single slow answer, say a pause of the process,
// fails its own request only.)
type Redis struct {
	client redis.UniversalClient
	cfg    RedisConfig

	failures   atomic.Int32         // failures in a row
	downUntil  atomic.Int64         // unix ns; Redis is not tried before then; 0 when not backing off
	failureLog logthrottle.Throttle // the failure log, once per logEvery

	// clock, in tests, replaces Redis's clock (ms).
	clock func() int64
}

// RedisConfig tunes a Redis limiter.
type RedisConfig struct {
	// Prefix starts every Redis key of the limiter.
	Prefix string
	// Timeout bounds one call to Redis. Default 250ms.
	Timeout time.Duration
	// Backoff is how long Redis is left alone after a failure. Default 1s.
	Backoff time.Duration
	// Logger returns the logger for failures and recoveries.
	Logger func() *zap.Logger
}

const (
	defaultRedisTimeout = 250 * time.Millisecond
	defaultRedisBackoff = time.Second
	// backoffAfter is how many failures in a row make the limiter back
	// off.
	backoffAfter = 3
	// logEvery throttles the failure log: Redis down under load would
	// otherwise log every request.
	logEvery = 10 * time.Second
)

// ErrUnavailable is wrapped by the errors of a Redis limiter that
// cannot reach its server.
var ErrUnavailable = errors.New("the rate-limit store is unavailable")

// NewRedis returns a limiter using client.
func NewRedis(client redis.UniversalClient, cfg RedisConfig) *Redis {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultRedisTimeout
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = defaultRedisBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop
	}
	return &Redis{client: client, cfg: cfg, failureLog: logthrottle.Throttle{Every: logEvery}}
}

// Request is what one admission asks of a key's budgets.
type Request struct {
	// RPM and Burst limit the key's requests; RPM 0 means no limit.
	RPM, Burst int
	// TPM limits the key's tokens per minute; 0 means no limit.
	TPM int
	// Tokens is the request's estimated cost: its prompt and the most it
	// may answer. It is charged at admission and corrected by Settle.
	Tokens int
	// Quota is the key's daily token quota; 0 means none.
	Quota int64
	// Seed is the key's count for today in the durable ledger: the
	// shared counter never counts less.
	Seed int64
}

// Refusal says which budget refused a request.
type Refusal string

const (
	RefusedRequests Refusal = "requests"
	RefusedTokens   Refusal = "tokens"
	RefusedQuota    Refusal = "quota"
)

// Admission is the outcome of Admit.
type Admission struct {
	Decision
	// Refused names the budget that refused the request; empty when it
	// was admitted.
	Refused Refusal
	// QuotaUsed is the key's tokens charged today, reservations
	// included, after this admission.
	QuotaUsed int64
	// Day is the UTC day (days since 1970-01-01, by Redis's clock) the
	// reservation was charged to; Settle needs it.
	Day int64
	// Now is Redis's time of the admission.
	Now time.Time
}

// Admit decides one request of key id and, when it passes, charges its
// estimate to the key's budgets, atomically across every instance.
func (r *Redis) Admit(ctx context.Context, id string, q Request) (Admission, error) {
	if err := r.ready(); err != nil {
		return Admission{}, r.failed("admit", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	base := r.cfg.Prefix + "{" + id + "}"
	v, err := admitScript.Run(ctx, r.client, []string{base + ":r", base + ":t", base + ":q:"},
		q.RPM, max(q.Burst, 1), q.TPM, q.Tokens, q.Quota, q.Seed, r.now()).Slice()
	if err != nil {
		return Admission{}, r.failed("admit", err)
	}
	a, err := parseAdmission(v, q)
	if err != nil {
		return Admission{}, r.failed("admit", err)
	}
	r.recovered()
	return a, nil
}

func parseAdmission(v []any, q Request) (Admission, error) {
	if len(v) != 10 {
		return Admission{}, fmt.Errorf("unexpected script answer %v", v)
	}
	var n [10]int64
	for i, x := range v {
		if i == 1 {
			continue
		}
		var ok bool
		if n[i], ok = x.(int64); !ok {
			return Admission{}, fmt.Errorf("unexpected script answer %v", v)
		}
	}
	refused, _ := v[1].(string)
	ms := func(x int64) time.Duration { return time.Duration(x) * time.Millisecond }
	a := Admission{
		Decision: Decision{
			Allowed:   n[0] == 1,
			Limit:     q.RPM,
			Remaining: int(n[2]),
			Reset:     ms(n[3]),
			Tokens:    TokenState{Limit: q.TPM, Remaining: int(n[5]), Reset: ms(n[6])},
		},
		Refused:   Refusal(refused),
		QuotaUsed: n[7],
		Day:       n[8],
		Now:       time.UnixMilli(n[9]),
	}
	if !a.Allowed {
		a.RetryAfter = ms(n[4])
	}
	return a, nil
}

// Settle corrects key id's token budget and the quota counter of day by
// delta: the request's real use minus its admitted estimate.
func (r *Redis) Settle(ctx context.Context, id string, tpm int, quota bool, day int64, delta int) error {
	if delta == 0 || (tpm <= 0 && !quota) {
		return nil
	}
	if err := r.ready(); err != nil {
		return r.failed("settle", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	base := r.cfg.Prefix + "{" + id + "}"
	q := ""
	if quota {
		q = "1"
	}
	err := settleScript.Run(ctx, r.client, []string{base + ":t", base + ":q:" + strconv.FormatInt(day, 10)},
		max(tpm, 0), delta, r.now(), q).Err()
	if err != nil {
		return r.failed("settle", err)
	}
	r.recovered()
	return nil
}

func (r *Redis) now() string {
	if r.clock == nil {
		return ""
	}
	return strconv.FormatInt(r.clock(), 10)
}

// ready says whether Redis may be tried: not within Backoff of a
// failure. Once the backoff ends, the first caller claims the next try
// and the others keep waiting out a new backoff.
func (r *Redis) ready() error {
	until := r.downUntil.Load()
	if until == 0 {
		return nil
	}
	now := time.Now().UnixNano()
	if now < until {
		return errBackingOff
	}
	if !r.downUntil.CompareAndSwap(until, now+int64(r.cfg.Backoff)) {
		return errBackingOff
	}
	return nil
}

var errBackingOff = errors.New("backing off after a recent failure")

// failed counts and logs a failed call and starts a backoff.
func (r *Redis) failed(op string, err error) error {
	storeFailures.WithLabelValues(op).Inc()
	now := time.Now().UnixNano()
	if err != errBackingOff {
		if r.failures.Add(1) >= backoffAfter {
			r.downUntil.Store(now + int64(r.cfg.Backoff))
		}
		r.failureLog.Error(r.cfg.Logger(), "rate-limit store unreachable; applying the on_failure policy",
			zap.String("operation", op), zap.Duration("retry_in", r.cfg.Backoff), zap.Error(err))
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// recovered ends a failure period after a successful call.
func (r *Redis) recovered() {
	if r.failures.Load() != 0 {
		r.failures.Store(0)
	}
	if u := r.downUntil.Load(); u != 0 && r.downUntil.CompareAndSwap(u, 0) {
		r.cfg.Logger().Info("rate-limit store reachable again")
	}
}

type pooledClient struct{ *redis.Client }

func (c pooledClient) Destruct() error { return c.Close() }

// AcquireRedis returns a client of the Redis server at url (redis:// or
// rediss://), shared by every configuration naming the same url, so a
// reload keeps its connections. It does not connect: the client
// connects on first use. Call release when the configuration is cleaned
// up.
func AcquireRedis(url string) (client *redis.Client, release func() error, err error) {
	sum := sha256.Sum256([]byte(url)) // the url may hold a password
	key := "xjp_gateway.ratelimit.redis." + hex.EncodeToString(sum[:12])
	v, _, err := registries.LoadOrNew(key, func() (caddy.Destructor, error) {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("bad Redis url: %s", strings.ReplaceAll(err.Error(), url, "[url]"))
		}
		// Admissions are bounded by their context (RedisConfig.Timeout);
		// a retry could not fit in it anyway.
		// A dead server is noticed at once and left alone (Backoff)
		// rather than redialled in a loop.
		opt.ContextTimeoutEnabled = true
		opt.MaxRetries = -1
		opt.DialerRetries = 1
		return pooledClient{redis.NewClient(opt)}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	release = func() error {
		var err error
		once.Do(func() { _, err = registries.Delete(key) })
		return err
	}
	return v.(pooledClient).Client, release, nil
}
