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
//	        ...                         # options of the provider type
//	    }
//	    model <public-name> [<alias>...] {
//	        primary  <provider> [<upstream-model>]
//	        fallback <provider> [<upstream-model>]   # repeatable, tried in order
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
//	        default_rpm <n>             # keys without their own limit; default unlimited
//	        burst       <n>             # default: the key's requests per minute
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
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			rc := RouteConfig{Provider: args[0]}
			if len(args) == 2 {
				rc.Model = args[1]
			}
			if kw == "fallback" {
				m.Fallbacks = append(m.Fallbacks, rc)
				continue
			}
			if m.Primary != nil {
				return d.Errf("model %q: primary already specified", name)
			}
			m.Primary = &rc
		default:
			return d.Errf("unrecognized model option %q", kw)
		}
	}
	if m.Primary == nil {
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
