package postgres

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile parses the store's block:
//
//	auth postgres {
//	    dsn                <url>          # {env.XJP_DATABASE_URL}; required
//	    max_conns          <n>
//	    cache_ttl          <duration>     # default 30s
//	    negative_cache_ttl <duration>     # default 5s
//	    lookup_timeout     <duration>     # default 2s
//	    pepper             <secret>       # {env.XJP_KEY_PEPPER}
//	    migrate_on_start
//	    usage {
//	        queue_size     <n>            # default 10000
//	        batch_size     <n>            # default 500
//	        flush_interval <duration>     # default 1s
//	    }
//	}
func (s *Store) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the store name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "dsn":
			err = oneArg(d, &s.DSN)
		case "pepper":
			err = oneArg(d, &s.Pepper)
		case "max_conns":
			err = positiveInt(d, opt, &s.MaxConns)
		case "cache_ttl":
			err = duration(d, &s.CacheTTL)
		case "negative_cache_ttl":
			err = duration(d, &s.NegativeCacheTTL)
		case "lookup_timeout":
			err = duration(d, &s.LookupTimeout)
		case "migrate_on_start":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.MigrateOnStart = true
		case "usage":
			err = s.parseUsage(d)
		default:
			return d.Errf("unrecognized postgres key store option %q", opt)
		}
		if err != nil {
			return err
		}
	}
	if s.DSN == "" {
		return d.Err("postgres key store: dsn is required")
	}
	return nil
}

func (s *Store) parseUsage(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if s.Usage == nil {
		s.Usage = new(UsageConfig)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch opt := d.Val(); opt {
		case "queue_size":
			err = positiveInt(d, opt, &s.Usage.QueueSize)
		case "batch_size":
			err = positiveInt(d, opt, &s.Usage.BatchSize)
		case "flush_interval":
			err = duration(d, &s.Usage.FlushInterval)
		default:
			return d.Errf("unrecognized usage option %q", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.AllArgs(dst) {
		return d.ArgErr()
	}
	return nil
}

func positiveInt(d *caddyfile.Dispenser, opt string, dst *int) error {
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return d.Errf("%s: want a positive integer, got %q", opt, s)
	}
	*dst = n
	return nil
}

func duration(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var s string
	if !d.AllArgs(&s) {
		return d.ArgErr()
	}
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return d.Errf("bad duration %q", s)
	}
	*dst = caddy.Duration(v)
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Store)(nil)
