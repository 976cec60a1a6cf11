package xjpgateway

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// RateLimit limits each API key's requests and tokens per minute. A key's
// rate_limit_rpm in the postgres store overrides DefaultRPM. Each key has
// a token bucket per budget: it may send Burst requests at once and
// DefaultRPM per minute on average, and spend DefaultTPM tokens (prompt
// plus answer) per minute. A request's tokens are estimated when it is
// admitted (its prompt, plus its max_tokens or EstimateOutput) and
// corrected with the provider's count when it ends.
//
// By default the buckets live in the process (they survive config
// reloads). With Store, they live in Redis and every gateway instance
// using that Redis shares them; daily quotas are then also enforced
// exactly across instances, by reserving each request's estimate before
// it runs.
type RateLimit struct {
	// DefaultRPM is the requests per minute of a key without its own
	// limit. 0 (the default) leaves such keys unlimited.
	DefaultRPM int `json:"default_rpm,omitempty"`
	// DefaultTPM is the tokens per minute (prompt plus answer) of every
	// key. 0 (the default) leaves tokens per minute unlimited.
	DefaultTPM int `json:"default_tpm,omitempty"`
	// Burst is how many requests a key may send at once. Default: the
	// key's requests per minute (a whole minute's worth).
	Burst int `json:"burst,omitempty"`
	// EstimateOutput is the number of answer tokens reserved for a
	// request that does not set max_tokens (nor does limits
	// max_output_tokens), for its tokens-per-minute budget and daily
	// quota. Default: 4096.
	EstimateOutput int `json:"estimate_output,omitempty"`
	// Store keeps the budgets somewhere other than this process. Omit it
	// for the in-process limiter.
	Store *RateLimitStore `json:"store,omitempty"`
}

// RateLimitStore is a shared rate-limit store. Every admission is one
// atomic Redis script that decides the key's requests per minute,
// tokens per minute and daily quota together, on Redis's clock.
type RateLimitStore struct {
	// Type is the store: "redis".
	Type string `json:"type"`
	// URL is the Redis server, as redis://[user:password@]host:port/db or
	// rediss:// for TLS. Placeholders such as {env.XJP_REDIS_URL} are
	// resolved. Required.
	URL string `json:"url,omitempty"`
	// Prefix starts every Redis key of the limiter. Gateways share
	// budgets when they use the same Redis and prefix. Default: "xjp:rl:".
	Prefix string `json:"prefix,omitempty"`
	// OnFailure is what happens while Redis cannot be reached: "open"
	// (the default) admits requests under this instance's own
	// in-process limits, "closed" refuses them with 503. Either way the
	// failure is logged and counted in
	// xjp_ratelimit_store_failures_total; after three failures in a row
	// Redis is left alone for a second, then tried again.
	OnFailure string `json:"on_failure,omitempty"`
	// Timeout bounds one call to Redis; a slower answer counts as a
	// failure. Default: 250ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

const (
	defaultEstimateOutput  = 4096
	defaultRateLimitPrefix = "xjp:rl:"
)

// parseRateLimit parses
//
//	rate_limit {
//	    default_rpm     <n>
//	    default_tpm     <n>
//	    burst           <n>
//	    estimate_output <n>
//	    store local|redis [<url>] {
//	        url        <url>
//	        prefix     <string>
//	        on_failure open|closed
//	        timeout    <duration>
//	    }
//	}
func (g *Gateway) parseRateLimit(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if g.RateLimit != nil {
		return d.Err("rate_limit is already specified")
	}
	g.RateLimit = new(RateLimit)
	storeSeen := false
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var dst *int
		switch opt {
		case "default_rpm":
			dst = &g.RateLimit.DefaultRPM
		case "default_tpm":
			dst = &g.RateLimit.DefaultTPM
		case "burst":
			dst = &g.RateLimit.Burst
		case "estimate_output":
			dst = &g.RateLimit.EstimateOutput
		case "store":
			if storeSeen {
				return d.Err("rate_limit store is already specified")
			}
			storeSeen = true
			if err := g.parseRateLimitStore(d); err != nil {
				return err
			}
			continue
		default:
			return d.Errf("unrecognized rate_limit option %q", opt)
		}
		var s string
		if !d.AllArgs(&s) {
			return d.ArgErr()
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return d.Errf("rate_limit %s: want a positive integer, got %q", opt, s)
		}
		*dst = n
	}
	return nil
}

func (g *Gateway) parseRateLimitStore(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	switch d.Val() {
	case "local":
		if d.NextArg() || d.NextBlock(d.Nesting()) {
			return d.Err("rate_limit store local takes no options")
		}
		return nil
	case "redis":
	default:
		return d.Errf("rate_limit: unknown store %q: want local or redis", d.Val())
	}
	s := &RateLimitStore{Type: "redis"}
	if d.NextArg() {
		s.URL = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var v string
		if !d.AllArgs(&v) {
			return d.ArgErr()
		}
		switch opt {
		case "url":
			s.URL = v
		case "prefix":
			s.Prefix = v
		case "on_failure":
			if v != "open" && v != "closed" {
				return d.Errf("rate_limit store on_failure: want open or closed, got %q", v)
			}
			s.OnFailure = v
		case "timeout":
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("rate_limit store timeout: want a positive duration, got %q", v)
			}
			s.Timeout = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized rate_limit store option %q", opt)
		}
	}
	if s.URL == "" {
		return d.Err("rate_limit store redis: a url is required (e.g. {env.XJP_REDIS_URL})")
	}
	g.RateLimit.Store = s
	return nil
}
