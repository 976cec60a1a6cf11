package xjpgateway

import (
	"encoding/json"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/xiaojinpro/xjp-gateway/resilience"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("xjp_gateway", parseCaddyfile)
	// A terminal handler like reverse_proxy: header, request_body, encode,
	// auth and the rest of the standard middleware run before it.
	httpcaddyfile.RegisterDirectiveOrder("xjp_gateway", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gateway)
	err := g.UnmarshalCaddyfile(h.Dispenser)
	return g, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	xjp_gateway [<matcher>] {
//	    provider <name> <type> {
//	        base_url <url>
//	        api_key  <secret>           # {env.X} or {file./path}; resolved at provision
//	        header   <field> <value>
//	        timeouts {
//	            dial        <duration>  # default 10s
//	            first_byte  <duration>|off  # default 5m
//	            stream_idle <duration>|off  # default 5m
//	            total       <duration>|off  # default off
//	        }
//	        breaker {                   # default: none
//	            failures      <n>       # in a row; default 5 (off when failure_ratio is set)
//	            failure_ratio <0..1>
//	            min_requests  <n>       # default 10
//	            window        <duration>  # default 60s
//	            cooldown      <duration>  # default 30s
//	            half_open     <n>       # default 1
//	        }
//	        ...                         # options of the provider type
//	    }
//	    model <public-name> [<alias>...] {
//	        primary  <provider> [<upstream-model>] [weight <n>]  # repeatable: load balanced
//	        fallback <provider> [<upstream-model>]   # repeatable, tried in order
//	        retry { ... }               # overrides the gateway's, field by field
//	        timeouts { first_byte; stream_idle; total }  # override the providers'
//	    }
//	    retry {
//	        attempts     <n>            # calls per route; default 1
//	        backoff      <initial> [<max>]  # default 250ms 5s, full jitter
//	        try_duration <duration>     # retry budget; default 30s
//	        on           <condition...> # default connect timeout 429 500 502 503 504 529
//	    }
//	    keys {                          # the static key store
//	        key <secret> tenant <id> [name <label>] [models <glob>...]
//	    }
//	    auth <store> {                  # any key store module instead of keys
//	        ...
//	    }
//	    limits {
//	        max_body          <size>    # default 10MiB; larger bodies get 413
//	        max_messages      <n>|off   # default 100
//	        max_output_tokens <n>|off   # default off (the model's own limit)
//	        max_tools         <n>|off   # default 128
//	    }
//	    stream_keepalive <duration>|off # default 15s
//	    rate_limit {                    # per API key
//	        default_rpm     <n>         # keys without their own limit; default unlimited
//	        default_tpm     <n>         # tokens per minute (prompt + answer); default unlimited
//	        burst           <n>         # default: the key's requests per minute
//	        estimate_output <n>         # answer tokens reserved without max_tokens; default 4096
//	        store local|redis [<url>] { # default local (this process); redis: shared by instances
//	            url        <url>        # e.g. {env.XJP_REDIS_URL}
//	            prefix     <string>     # default xjp:rl:
//	            on_failure open|closed  # Redis unreachable: local limits, or 503; default open
//	            timeout    <duration>   # per Redis call; default 250ms
//	        }
//	    }
//	    idempotency [memory|redis|off] { # default: memory
//	        header   <field>            # default Idempotency-Key
//	        ttl      <duration>         # default 24h
//	        max_body <size>             # largest answer kept; default 1MiB
//	        capacity <size>             # memory store; default 64MiB
//	        url      <url>              # redis store, e.g. {env.XJP_REDIS_URL}
//	        prefix   <string>           # redis store; default xjp:idem:
//	        lease    <duration>         # redis store; default 10s
//	    }
//	    health_path <path>              # readiness probe, e.g. /healthz; default none
//	    metrics {
//	        tenant_label on|off         # default on
//	    }
//	    tracing {                       # spans need Caddy's tracing directive
//	        propagate                   # send traceparent to providers; default off
//	    }
//	}
func (g *Gateway) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "provider":
			err = g.parseProvider(d)
		case "model":
			err = g.parseModel(d)
		case "keys":
			err = g.parseAuth(d, "static")
		case "auth":
			if !d.NextArg() {
				return d.ArgErr()
			}
			err = g.parseAuth(d, d.Val())
		case "limits":
			err = g.parseLimits(d)
		case "stream_keepalive":
			err = g.parseStreamKeepAlive(d)
		case "rate_limit":
			err = g.parseRateLimit(d)
		case "idempotency":
			err = g.parseIdempotency(d)
		case "retry":
			err = g.parseRetry(d)
		case "metrics":
			err = g.parseMetrics(d)
		case "tracing":
			err = g.parseTracing(d)
		case "health_path":
			err = g.parseHealthPath(d)
		default:
			return d.Errf("unrecognized xjp_gateway option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseProvider parses "provider <name> <type> { ... }" by handing the
// block to the provider module's own parser.
func (g *Gateway) parseProvider(d *caddyfile.Dispenser) error {
	var name string
	if !d.NextArg() {
		return d.ArgErr()
	}
	name = d.Val()
	if !d.NextArg() {
		return d.Errf("provider %q: a type is required (e.g. openrouter, openai, echo)", name)
	}
	typ := d.Val()
	if _, dup := g.Providers[name]; dup {
		return d.Errf("provider %q is already defined", name)
	}
	unm, err := caddyfile.UnmarshalModule(d, "http.xjp_gateway.providers."+typ)
	if err != nil {
		return err
	}
	if g.Providers == nil {
		g.Providers = make(map[string]json.RawMessage)
	}
	g.Providers[name] = caddyconfig.JSONModuleObject(unm, "type", typ, nil)
	return nil
}

func (g *Gateway) parseModel(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	m := &ModelConfig{Aliases: d.RemainingArgs()}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch kw := d.Val(); kw {
		case "primary", "fallback":
			rc, err := parseRoute(d, kw == "primary")
			if err != nil {
				return err
			}
			if kw == "fallback" {
				m.Fallbacks = append(m.Fallbacks, rc)
				continue
			}
			for _, p := range m.Primary {
				if p.Provider == rc.Provider && p.Model == rc.Model {
					return d.Errf("model %q: primary %s %s is listed twice", name, rc.Provider, rc.Model)
				}
			}
			m.Primary = append(m.Primary, rc)
		case "retry":
			if m.Retry != nil {
				return d.Errf("model %q: retry already specified", name)
			}
			r, err := resilience.ParseRetry(d)
			if err != nil {
				return err
			}
			m.Retry = r
		case "timeouts":
			if m.Timeouts != nil {
				return d.Errf("model %q: timeouts already specified", name)
			}
			t, err := resilience.ParseTimeouts(d, false)
			if err != nil {
				return err
			}
			m.Timeouts = t
		default:
			return d.Errf("unrecognized model option %q", kw)
		}
	}
	if len(m.Primary) == 0 {
		return d.Errf("model %q: a primary route is required", name)
	}
	if _, dup := g.Models[name]; dup {
		return d.Errf("model %q is already defined", name)
	}
	if g.Models == nil {
		g.Models = make(map[string]*ModelConfig)
	}
	g.Models[name] = m
	return nil
}

// parseRoute parses the arguments of a route line:
//
//	primary  <provider> [<upstream-model>] [weight <n>]
//	fallback <provider> [<upstream-model>]
func parseRoute(d *caddyfile.Dispenser, primary bool) (RouteConfig, error) {
	args := d.RemainingArgs()
	var rc RouteConfig
	if n := len(args); primary && n >= 3 && args[n-2] == "weight" {
		w, err := strconv.Atoi(args[n-1])
		if err != nil || w < 1 {
			return rc, d.Errf("bad weight %q: want a positive integer", args[n-1])
		}
		rc.Weight = w
		args = args[:n-2]
	}
	if len(args) < 1 || len(args) > 2 {
		return rc, d.ArgErr()
	}
	rc.Provider = args[0]
	if len(args) == 2 {
		rc.Model = args[1]
	}
	return rc, nil
}

// parseRetry parses the gateway's retry block.
func (g *Gateway) parseRetry(d *caddyfile.Dispenser) error {
	if g.Retry != nil {
		return d.Err("retry already specified")
	}
	r, err := resilience.ParseRetry(d)
	if err != nil {
		return err
	}
	g.Retry = r
	return nil
}

// parseAuth parses a key store block with the store module's parser.
func (g *Gateway) parseAuth(d *caddyfile.Dispenser, store string) error {
	if g.Auth != nil {
		return d.Err("a key store is already specified")
	}
	unm, err := caddyfile.UnmarshalModule(d, "http.xjp_gateway.key_stores."+store)
	if err != nil {
		return err
	}
	g.Auth = caddyconfig.JSONModuleObject(unm, "store", store, nil)
	return nil
}

func (g *Gateway) parseLimits(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if g.Limits == nil {
		g.Limits = new(Limits)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch d.Val() {
		case "max_body":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(s)
			if err != nil || size == 0 {
				return d.Errf("bad max_body %q", s)
			}
			g.Limits.MaxBody = int64(size)
		case "max_messages":
			err = parseLimit(d, &g.Limits.MaxMessages)
		case "max_output_tokens":
			err = parseLimit(d, &g.Limits.MaxOutputTokens)
		case "max_tools":
			err = parseLimit(d, &g.Limits.MaxTools)
		default:
			return d.Errf("unrecognized limits option %q", d.Val())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseLimit parses "<option> <n>|off" into dst: n > 0, or -1 for off.
func parseLimit(d *caddyfile.Dispenser, dst *int) error {
	opt := d.Val()
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	if s == "off" {
		*dst = -1
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return d.Errf("limits %s: want a positive integer or off, got %q", opt, s)
	}
	*dst = n
	return nil
}

// parseStreamKeepAlive parses "stream_keepalive <duration>|off".
func (g *Gateway) parseStreamKeepAlive(d *caddyfile.Dispenser) error {
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	if s == "off" {
		g.StreamKeepAlive = -1
		return nil
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil || dur <= 0 {
		return d.Errf("bad stream_keepalive %q: want a positive duration or off", s)
	}
	g.StreamKeepAlive = caddy.Duration(dur)
	return nil
}
