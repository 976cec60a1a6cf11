package xjpgateway

import (
	"context"
	"errors"
	"fmt"
	"github.com/xiaojinpro/xjp-gateway/internal/logthrottle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/idempotency"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Idempotency makes retries safe. A chat request carrying an idempotency
// key (the Idempotency-Key header) runs once: a later request from the
// same tenant with the same key and the same body gets the stored answer
// replayed, status, body and, for a stream, the same events, with the
// header Idempotent-Replayed: true. Duplicates that arrive while the
// first still runs wait for it and share its answer, so the provider is
// called once. The same key with another body gets 422. Failed answers
// are shared with the duplicates waiting at that moment but never
// stored, so that a later retry runs again. Requests without a key are
// not affected.
type Idempotency struct {
	// Disabled ignores idempotency keys. Default: keys are honoured.
	Disabled bool `json:"disabled,omitempty"`
	// Header is the request header that carries the key. Default:
	// Idempotency-Key.
	Header string `json:"header,omitempty"`
	// TTL is how long an answer is kept for replay. Default: 24h.
	TTL caddy.Duration `json:"ttl,omitempty"`
	// MaxBody is the largest answer kept for replay, in bytes; a larger
	// one reaches its client but is not kept. Default: 1 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// Store is where claims and answers are kept: "memory" (the default:
	// this process only; it survives config reloads) or "redis" (shared
	// by every gateway that uses the same Redis and prefix).
	Store string `json:"store,omitempty"`
	// Capacity bounds the memory store: the total size of the answers it
	// keeps, in bytes; the least recently used go first. The process has
	// one memory store, shared by its gateway handlers. Default: 64 MiB.
	Capacity int64 `json:"capacity,omitempty"`
	// URL is the Redis server of the redis store, as
	// redis://[user:password@]host:port/db or rediss:// for TLS.
	// Placeholders such as {env.XJP_REDIS_URL} are resolved. Required for
	// the redis store.
	URL string `json:"url,omitempty"`
	// Prefix starts every Redis key the store writes. Default:
	// "xjp:idem:".
	Prefix string `json:"prefix,omitempty"`
	// Lease is how long the Redis claim on a running request lasts
	// without renewal. The gateway running the request renews it; if that
	// gateway dies, the duplicates waiting for it take over after at most
	// this long. Default: 10s.
	Lease caddy.Duration `json:"lease,omitempty"`
}

const (
	defaultIdempotencyHeader   = "Idempotency-Key"
	defaultIdempotencyTTL      = 24 * time.Hour
	defaultIdempotencyMaxBody  = 1 << 20
	defaultIdempotencyCapacity = 64 << 20
	defaultIdempotencyPrefix   = "xjp:idem:"
	defaultIdempotencyLease    = 10 * time.Second
	// maxIdempotencyKey is the longest key accepted, as Stripe does.
	maxIdempotencyKey = 255
)

// idempotent is the provisioned form of Idempotency.
type idempotent struct {
	header  string
	ttl     time.Duration
	maxBody int
	store   idempotency.Store
	release func() error
	// storeErrors throttles the "idempotency store failed" log line, so
	// that a Redis outage cannot flood the log.
	storeErrors *logthrottle.Throttle
}

// provisionIdempotency acquires the store; it does no network I/O.
func (g *Gateway) provisionIdempotency() error {
	cfg := g.Idempotency
	if cfg == nil {
		cfg = new(Idempotency)
	}
	if cfg.Disabled {
		return nil
	}
	if cfg.TTL < 0 || cfg.MaxBody < 0 || cfg.Capacity < 0 || cfg.Lease < 0 {
		return fmt.Errorf("idempotency: ttl, max_body, capacity and lease must not be negative")
	}
	in := &idempotent{
		header:  orDefault(cfg.Header, defaultIdempotencyHeader),
		ttl:     orDefault(time.Duration(cfg.TTL), defaultIdempotencyTTL),
		maxBody: int(orDefault(cfg.MaxBody, defaultIdempotencyMaxBody)),

		storeErrors: &logthrottle.Throttle{Every: keyStoreLogInterval},
	}
	switch cfg.Store {
	case "", "memory":
		if cfg.URL != "" || cfg.Prefix != "" || cfg.Lease != 0 {
			return fmt.Errorf("idempotency: url, prefix and lease are options of the redis store")
		}
		m, release, err := idempotency.AcquireMemory(orDefault(cfg.Capacity, defaultIdempotencyCapacity))
		if err != nil {
			return fmt.Errorf("idempotency: %w", err)
		}
		in.store, in.release = m, release
	case "redis":
		if cfg.Capacity != 0 {
			return fmt.Errorf("idempotency: capacity is an option of the memory store")
		}
		url, err := redisURL(cfg.URL, "idempotency")
		if err != nil {
			return err
		}
		client, release, err := idempotency.AcquireRedis(url)
		if err != nil {
			return fmt.Errorf("idempotency: %w", err)
		}
		lease := orDefault(time.Duration(cfg.Lease), defaultIdempotencyLease)
		in.store = idempotency.NewRedis(client, orDefault(cfg.Prefix, defaultIdempotencyPrefix), lease)
		in.release = release
	default:
		return fmt.Errorf("idempotency: unknown store %q: want memory or redis", cfg.Store)
	}
	g.idem = in
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// releaseIdempotency undoes provisionIdempotency.
func (g *Gateway) releaseIdempotency() error {
	if g.idem == nil || g.idem.release == nil {
		return nil
	}
	return g.idem.release()
}

// executeOnce runs execute, unless the request carries an idempotency key
// that a request of its tenant has used before: then the answer of that
// request is replayed, waiting for it if it still runs. Requests without
// a key cost one header lookup.
func (g *Gateway) executeOnce(w http.ResponseWriter, r *http.Request, c *call) {
	body := c.body
	c.body = nil // nothing needs it past here: let a large body go while the answer streams
	var key string
	if g.idem != nil {
		key = r.Header.Get(g.idem.header)
	}
	if key == "" {
		g.execute(w, r, c)
		return
	}
	if len(key) > maxIdempotencyKey {
		g.fail(w, c, &unified.Error{Kind: unified.KindInvalidRequest, Param: g.idem.header,
			Message: fmt.Sprintf("the %s header is longer than %d characters", g.idem.header, maxIdempotencyKey)})
		return
	}
	claim, resp, err := g.idem.store.Begin(r.Context(), idempotency.NewKey(c.key.Tenant, key),
		idempotency.NewFingerprint(c.dialect.Name(), body))
	switch {
	case errors.Is(err, idempotency.ErrConflict):
		g.fail(w, c, &unified.Error{Kind: unified.KindUnprocessable, Param: g.idem.header, Code: "idempotency_key_reused",
			Message: "this " + g.idem.header + " was already used with a different request body; use a new key for a new request"})
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		g.fail(w, c, unified.AsError(err)) // the client left while waiting
	case err != nil:
		g.idem.storeErrors.Error(g.logger, "idempotency store failed", zap.String("request_id", c.id), zap.Error(err))
		g.fail(w, c, &unified.Error{Kind: unified.KindUnavailable, Retryable: true,
			Message: "the gateway cannot check idempotency keys right now; try again shortly"})
	case resp != nil:
		g.replay(w, c, resp)
	default:
		defer claim.Abandon() //nolint:errcheck // a no-op once settled; the net for a panic
		rec := idempotency.NewRecorder(w, g.idem.maxBody)
		g.execute(rec, r, c)
		g.settle(r, c, claim, rec)
	}
}

// settle ends the claim with what the request produced: a complete
// answer is stored, a failure is handed to the waiting duplicates, and
// an answer cut short (the client left) or too large to keep leaves them
// to run the request themselves.
func (g *Gateway) settle(r *http.Request, c *call, claim idempotency.Claim, rec *idempotency.Recorder) {
	resp := rec.Response(c.id)
	var err error
	switch {
	case r.Context().Err() != nil || resp == nil:
		err = claim.Abandon()
	case c.err == nil && resp.Status/100 == 2 && (!c.req.Stream || c.upstreamEnded):
		err = claim.Complete(resp, g.idem.ttl)
	case c.err == nil:
		err = claim.Abandon() // a stream cut short without an error: its client is gone
	default:
		err = claim.Fail(resp)
	}
	if err != nil {
		g.logger.Warn("idempotency store failed to settle a claim", zap.String("request_id", c.id), zap.Error(err))
	}
}

// replay answers with a stored response.
func (g *Gateway) replay(w http.ResponseWriter, c *call, resp *idempotency.Response) {
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	if _, ok := resp.Header["Request-Id"]; ok {
		h.Set("Request-Id", c.id) // Anthropic's SDKs show it: this request's id
	}
	h.Set("Idempotent-Replayed", "true")
	if resp.RequestID != "" {
		h.Set("X-Xjp-Original-Request-Id", resp.RequestID)
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
	_ = http.NewResponseController(w).Flush()

	c.upstreamEnded = true // for the usage row: the answer was whole
	if resp.Status >= 400 {
		c.err = &unified.Error{Kind: kindOfStatus(resp.Status), Message: "replayed failure"}
	}
	if ce := g.logger.Check(zap.DebugLevel, "idempotent replay"); ce != nil {
		ce.Write(zap.String("request_id", c.id), zap.String("original_request_id", resp.RequestID), zap.Int("status", resp.Status))
	}
}

// kindOfStatus is the error kind of a replayed failure's status.
func kindOfStatus(status int) unified.Kind {
	if status == 529 {
		return unified.KindOverloaded
	}
	for k := unified.KindInternal; k <= unified.KindMethodNotAllowed; k++ {
		if k.Status() == status {
			return k
		}
	}
	return unified.KindUpstream
}

// parseIdempotency parses
//
//	idempotency [memory|redis|off] {
//	    header   <field>
//	    ttl      <duration>
//	    max_body <size>
//	    capacity <size>       # memory
//	    url      <url>        # redis
//	    prefix   <string>     # redis
//	    lease    <duration>   # redis
//	}
func (g *Gateway) parseIdempotency(d *caddyfile.Dispenser) error {
	if g.Idempotency != nil {
		return d.Err("idempotency is already specified")
	}
	cfg := new(Idempotency)
	g.Idempotency = cfg
	if d.NextArg() {
		switch d.Val() {
		case "off":
			cfg.Disabled = true
		case "memory", "redis":
			cfg.Store = d.Val()
		default:
			return d.Errf("idempotency: unknown store %q: want memory, redis or off", d.Val())
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var s string
		if !d.AllArgs(&s) {
			return d.ArgErr()
		}
		switch opt {
		case "header":
			cfg.Header = s
		case "ttl", "lease":
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("idempotency %s: want a positive duration, got %q", opt, s)
			}
			if opt == "ttl" {
				cfg.TTL = caddy.Duration(dur)
			} else {
				cfg.Lease = caddy.Duration(dur)
			}
		case "max_body", "capacity":
			size, err := humanize.ParseBytes(s)
			if err != nil || size == 0 {
				return d.Errf("idempotency %s: want a size such as 1MiB, got %q", opt, s)
			}
			if opt == "max_body" {
				cfg.MaxBody = int64(size)
			} else {
				cfg.Capacity = int64(size)
			}
		case "url":
			cfg.URL = s
		case "prefix":
			cfg.Prefix = s
		default:
			return d.Errf("unrecognized idempotency option %q", opt)
		}
	}
	return nil
}
