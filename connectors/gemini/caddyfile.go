package gemini

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile parses the provider block:
//
//	provider <name> vertex {
//	    project          <id>                # default: the credentials' project
//	    location         <location>          # default: global
//	    credentials_file <path>              # default: Application Default Credentials
//	    api_key          <key>               # express mode instead of OAuth
//	    api_version      v1|v1beta1          # default: v1
//	    safety           <category> <threshold> [SEVERITY|PROBABILITY]
//	    include_thoughts
//	    base_url         <url>               # default: the location's host
//	    header           <field> <value>
//	}
func (v *Vertex) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return unmarshalProvider(d, &v.Common, &v.Options, func(d *caddyfile.Dispenser) (bool, error) {
		var dst *string
		switch d.Val() {
		case "project":
			dst = &v.Project
		case "location":
			dst = &v.Location
		case "api_version":
			dst = &v.APIVersion
		case "credentials_file":
			dst = &v.CredentialsFile
		default:
			return false, nil
		}
		if !d.AllArgs(dst) {
			return true, d.ArgErr()
		}
		return true, nil
	})
}

// UnmarshalCaddyfile parses the provider block:
//
//	provider <name> gemini {
//	    api_key     <key>                    # required
//	    api_version v1beta|v1                # default: v1beta
//	    safety      <category> <threshold>
//	    include_thoughts
//	    base_url    <url>                    # default: https://generativelanguage.googleapis.com
//	    header      <field> <value>
//	}
func (g *Gemini) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return unmarshalProvider(d, &g.Common, &g.Options, func(d *caddyfile.Dispenser) (bool, error) {
		if d.Val() != "api_version" {
			return false, nil
		}
		if !d.AllArgs(&g.APIVersion) {
			return true, d.ArgErr()
		}
		return true, nil
	})
}

// unmarshalProvider parses the options every provider and both Google
// types take, handing the rest to own.
func unmarshalProvider(d *caddyfile.Dispenser, common interface {
	UnmarshalOption(*caddyfile.Dispenser) (bool, error)
}, opts *Options, own func(*caddyfile.Dispenser) (bool, error)) error {
	d.Next() // the provider type
	typ := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		ok, err := firstOption(d, common.UnmarshalOption, opts.unmarshalOption, own)
		if err != nil {
			return err
		}
		if !ok {
			return d.Errf("unrecognized %s provider option %q", typ, d.Val())
		}
	}
	return nil
}

// firstOption runs the parsers until one recognizes the option.
func firstOption(d *caddyfile.Dispenser, parsers ...func(*caddyfile.Dispenser) (bool, error)) (bool, error) {
	for _, parse := range parsers {
		if ok, err := parse(d); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// unmarshalOption parses safety and include_thoughts.
func (o *Options) unmarshalOption(d *caddyfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "safety":
		args := d.RemainingArgs()
		if len(args) < 2 || len(args) > 3 {
			return true, d.ArgErr()
		}
		s := SafetySetting{Category: args[0], Threshold: args[1]}
		if len(args) == 3 {
			s.Method = args[2]
		}
		o.SafetySettings = append(o.SafetySettings, s)
	case "include_thoughts":
		if d.NextArg() {
			return true, d.ArgErr()
		}
		o.IncludeThoughts = true
	default:
		return false, nil
	}
	return true, nil
}
