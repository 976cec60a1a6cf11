package resilience

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// ParseTimeouts parses a timeouts block at d's current token; withDial
// allows the dial option (provider blocks only):
//
//	timeouts {
//	    dial        <duration>
//	    first_byte  <duration>|off
//	    stream_idle <duration>|off
//	    total       <duration>|off
//	}
func ParseTimeouts(d *caddyfile.Dispenser, withDial bool) (*Timeouts, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	t := new(Timeouts)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var dst *caddy.Duration
		switch opt {
		case "dial":
			if !withDial {
				return nil, d.Err("timeouts: dial is set on a provider, not a model")
			}
			dst = &t.Dial
		case "first_byte":
			dst = &t.FirstByte
		case "stream_idle":
			dst = &t.StreamIdle
		case "total":
			dst = &t.Total
		default:
			return nil, d.Errf("unrecognized timeouts option %q", opt)
		}
		var s string
		if !d.AllArgs(&s) {
			return nil, d.ArgErr()
		}
		if s == "off" && opt != "dial" {
			*dst = -1
			continue
		}
		v, err := positiveDuration(d, opt, s)
		if err != nil {
			return nil, err
		}
		*dst = v
	}
	return t, nil
}

// ParseRetry parses a retry block at d's current token:
//
//	retry {
//	    attempts     <n>
//	    backoff      <initial> [<max>]
//	    try_duration <duration>
//	    on           <condition...>
//	}
func ParseRetry(d *caddyfile.Dispenser) (*Retry, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	r := new(Retry)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		switch opt {
		case "attempts":
			if len(args) != 1 {
				return nil, d.ArgErr()
			}
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 {
				return nil, d.Errf("retry attempts: want a positive integer, got %q", args[0])
			}
			r.Attempts = n
		case "backoff":
			if len(args) < 1 || len(args) > 2 {
				return nil, d.ArgErr()
			}
			b := new(Backoff)
			var err error
			if b.Initial, err = positiveDuration(d, "backoff", args[0]); err != nil {
				return nil, err
			}
			if len(args) == 2 {
				if b.Max, err = positiveDuration(d, "backoff", args[1]); err != nil {
					return nil, err
				}
				if b.Max < b.Initial {
					return nil, d.Errf("retry backoff: the maximum %s is below the initial wait %s", args[1], args[0])
				}
			}
			r.Backoff = b
		case "try_duration":
			if len(args) != 1 {
				return nil, d.ArgErr()
			}
			v, err := positiveDuration(d, opt, args[0])
			if err != nil {
				return nil, err
			}
			r.TryDuration = v
		case "on":
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			if _, err := ParseConditions(args); err != nil {
				return nil, d.Err(err.Error())
			}
			r.On = args
		default:
			return nil, d.Errf("unrecognized retry option %q", opt)
		}
	}
	return r, nil
}

// ParseBreaker parses a breaker block at d's current token:
//
//	breaker {
//	    failures      <n>
//	    failure_ratio <0..1>
//	    min_requests  <n>
//	    window        <duration>
//	    cooldown      <duration>
//	    half_open     <n>
//	}
func ParseBreaker(d *caddyfile.Dispenser) (*BreakerConfig, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	b := new(BreakerConfig)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var s string
		if !d.AllArgs(&s) {
			return nil, d.ArgErr()
		}
		var err error
		switch opt {
		case "failures":
			b.Failures, err = positiveInt(d, opt, s)
		case "min_requests":
			b.MinRequests, err = positiveInt(d, opt, s)
		case "half_open":
			b.HalfOpen, err = positiveInt(d, opt, s)
		case "window":
			b.Window, err = positiveDuration(d, opt, s)
		case "cooldown":
			b.Cooldown, err = positiveDuration(d, opt, s)
		case "failure_ratio":
			r, perr := strconv.ParseFloat(s, 64)
			if perr != nil || r <= 0 || r > 1 {
				return nil, d.Errf("breaker failure_ratio: want a number above 0 and at most 1, got %q", s)
			}
			b.FailureRatio = r
		default:
			return nil, d.Errf("unrecognized breaker option %q", opt)
		}
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

func positiveDuration(d *caddyfile.Dispenser, opt, s string) (caddy.Duration, error) {
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, d.Errf("%s: want a positive duration, got %q", opt, s)
	}
	return caddy.Duration(v), nil
}

func positiveInt(d *caddyfile.Dispenser, opt, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, d.Errf("breaker %s: want a positive integer, got %q", opt, s)
	}
	return n, nil
}
