package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func init() { caddy.RegisterModule(StaticStore{}) }

// StaticStore is the key store "static": keys written in the config, the
// embedded default that needs no database. Only SHA-256 digests of the
// secrets are kept in memory after provisioning.
type StaticStore struct {
	// Keys accepted by the gateway.
	Keys []StaticKey `json:"keys,omitempty"`

	byDigest map[[sha256.Size]byte]*Key
}

// StaticKey is one key of a static store.
type StaticKey struct {
	// Key is the secret clients present. Use a runtime placeholder such as
	// {env.XJP_KEY} to keep it out of the config.
	Key string `json:"key"`
	// Tenant owns the key.
	Tenant string `json:"tenant"`
	// Name labels the key in logs.
	Name string `json:"name,omitempty"`
	// Models the key may use (path.Match globs); empty means all.
	Models []string `json:"models,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (StaticStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.key_stores.static",
		New: func() caddy.Module { return new(StaticStore) },
	}
}

// Provision resolves the secrets and indexes them by digest.
func (s *StaticStore) Provision(caddy.Context) error {
	repl := caddy.NewReplacer()
	s.byDigest = make(map[[sha256.Size]byte]*Key, len(s.Keys))
	for i, k := range s.Keys {
		secret := strings.TrimSpace(repl.ReplaceAll(k.Key, ""))
		if secret == "" {
			return fmt.Errorf("static key %d: the key is empty (is its environment variable set?)", i)
		}
		if k.Tenant == "" {
			return fmt.Errorf("static key %d: a tenant is required", i)
		}
		digest := sha256.Sum256([]byte(secret))
		if _, dup := s.byDigest[digest]; dup {
			return fmt.Errorf("static key %d: the same key is listed twice", i)
		}
		s.byDigest[digest] = &Key{
			ID:     "static-" + hex.EncodeToString(digest[:6]),
			Tenant: k.Tenant,
			Name:   k.Name,
			Models: k.Models,
		}
	}
	return nil
}

// Authenticate implements Store. The lookup is by digest, so timing
// reveals nothing about the secrets.
func (s *StaticStore) Authenticate(_ context.Context, secret string) (*Key, error) {
	if secret == "" {
		return nil, ErrUnknownKey
	}
	if k, ok := s.byDigest[sha256.Sum256([]byte(secret))]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// UnmarshalCaddyfile parses a keys block:
//
//	keys {
//	    key <secret> tenant <id> [name <label>] [models <glob>...]
//	}
//
// The same block follows "auth static".
func (s *StaticStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // "keys" or the store name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "key" {
			return d.Errf("unrecognized keys option %q", d.Val())
		}
		var k StaticKey
		if !d.NextArg() {
			return d.ArgErr()
		}
		k.Key = d.Val()
		for d.NextArg() {
			switch opt := d.Val(); opt {
			case "tenant", "name":
				if !d.NextArg() {
					return d.ArgErr()
				}
				if opt == "tenant" {
					k.Tenant = d.Val()
				} else {
					k.Name = d.Val()
				}
			case "models":
				k.Models = d.RemainingArgs()
				if len(k.Models) == 0 {
					return d.ArgErr()
				}
			default:
				return d.Errf("unrecognized key option %q", opt)
			}
		}
		if k.Tenant == "" {
			return d.Err("key: tenant <id> is required")
		}
		s.Keys = append(s.Keys, k)
	}
	return nil
}

// Interface guards
var (
	_ Store                 = (*StaticStore)(nil)
	_ caddy.Provisioner     = (*StaticStore)(nil)
	_ caddyfile.Unmarshaler = (*StaticStore)(nil)
)
