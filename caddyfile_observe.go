package xjpgateway

import (
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parseMetrics parses
//
//	metrics {
//	    tenant_label on|off
//	}
func (g *Gateway) parseMetrics(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if g.Metrics != nil {
		return d.Err("metrics is already specified")
	}
	g.Metrics = new(Metrics)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "tenant_label":
			var v string
			if !d.AllArgs(&v) {
				return d.ArgErr()
			}
			switch v {
			case "on":
				g.Metrics.NoTenantLabel = false
			case "off":
				g.Metrics.NoTenantLabel = true
			default:
				return d.Errf("metrics tenant_label: want on or off, got %q", v)
			}
		default:
			return d.Errf("unrecognized metrics option %q", opt)
		}
	}
	return nil
}

// parseTracing parses
//
//	tracing {
//	    propagate
//	}
func (g *Gateway) parseTracing(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	if g.Tracing != nil {
		return d.Err("tracing is already specified")
	}
	g.Tracing = new(Tracing)
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch opt := d.Val(); opt {
		case "propagate":
			if d.NextArg() {
				return d.ArgErr()
			}
			g.Tracing.Propagate = true
		default:
			return d.Errf("unrecognized tracing option %q", opt)
		}
	}
	return nil
}

// parseHealthPath parses
//
//	health_path <path>
func (g *Gateway) parseHealthPath(d *caddyfile.Dispenser) error {
	if g.HealthPath != "" {
		return d.Err("health_path is already specified")
	}
	var p string
	if !d.AllArgs(&p) {
		return d.ArgErr()
	}
	if !strings.HasPrefix(p, "/") {
		return d.Errf("health_path: want a path starting with /, got %q", p)
	}
	g.HealthPath = p
	return nil
}
