// Package anthropic connects to providers that speak the Anthropic
// Messages API. It registers two provider types: anthropic (Anthropic's
// API, or any Messages-compatible server) and clewdr (Clewdr, a Claude
// proxy, on its Anthropic-native endpoints).
package anthropic

import (
	"context"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/internal/anthropicwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

func init() {
	caddy.RegisterModule(Anthropic{})
	caddy.RegisterModule(Clewdr{})
}

// Dialect is the wire family of both provider types.
const Dialect = "anthropic"

// defaultMaxTokens is sent as max_tokens, which Anthropic requires, when
// the client gave none (OpenAI clients usually give none).
const defaultMaxTokens = 8192

// Anthropic is the provider type "anthropic": the Messages API at
// <base_url>/v1/messages, authenticated with x-api-key. Default base URL:
// https://api.anthropic.com.
//
// Requests from Anthropic clients pass through unchanged but for the model
// name, and so do the answers; requests from other clients are translated.
type Anthropic struct {
	connectors.Common

	// Version is the anthropic-version header sent upstream. Default:
	// 2023-06-01, the only version in use.
	Version string `json:"version,omitempty"`

	// DefaultMaxTokens is the max_tokens sent when the client set no output
	// limit (OpenAI clients usually set none; Anthropic requires one). Set
	// it to what your models allow: a low value truncates long answers, a
	// value above a model's own maximum is refused. Default: 8192.
	DefaultMaxTokens int `json:"default_max_tokens,omitempty"`

	name        string // provider type, for error messages
	messagesURL string
	countURL    string // "" when the provider cannot count tokens
	documents   bool
	clewdr      bool
}

// Clewdr is the provider type "clewdr": Clewdr
// (github.com/Xerxes-2/clewdr), a proxy that serves Claude from Claude.ai
// accounts, spoken to on its Anthropic-native endpoints (its
// OpenAI-compatible one drops tool calls, finish reasons and usage). The
// API key is Clewdr's password. Default base URL: http://127.0.0.1:8484.
type Clewdr struct {
	Anthropic

	// Endpoint selects Clewdr's API: "code" (default) is /code/v1/messages,
	// the Claude Code path, a pass-through to the Messages API with tools,
	// thinking and real usage; "web" is /v1/messages, which goes through
	// Claude.ai's web chat: no client tools, no documents, estimated usage.
	Endpoint string `json:"endpoint,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Anthropic) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.providers.anthropic",
		New: func() caddy.Module { return new(Anthropic) },
	}
}

// CaddyModule returns the Caddy module information.
func (Clewdr) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.providers.clewdr",
		New: func() caddy.Module { return new(Clewdr) },
	}
}

// Provision resolves secrets and builds the HTTP client.
func (p *Anthropic) Provision(caddy.Context) error {
	if err := p.setup("anthropic", "https://api.anthropic.com"); err != nil {
		return err
	}
	p.messagesURL = p.BaseURL + "/v1/messages"
	p.countURL = p.messagesURL + "/count_tokens"
	p.documents = true
	return nil
}

// Provision resolves secrets and builds the HTTP client.
func (c *Clewdr) Provision(caddy.Context) error {
	p := &c.Anthropic
	if err := p.setup("clewdr", "http://127.0.0.1:8484"); err != nil {
		return err
	}
	p.clewdr = true
	switch c.Endpoint {
	case "", "code":
		c.Endpoint = "code"
		p.messagesURL = p.BaseURL + "/code/v1/messages"
		p.countURL = p.messagesURL + "/count_tokens"
		p.documents = true
	case "web":
		p.messagesURL = p.BaseURL + "/v1/messages"
	default:
		return fmt.Errorf("endpoint must be code or web, not %q", c.Endpoint)
	}
	return nil
}

func (p *Anthropic) setup(name, defaultBaseURL string) error {
	p.name = name
	if err := p.Common.Setup(defaultBaseURL); err != nil {
		return err
	}
	if p.Version == "" {
		p.Version = anthropicwire.DefaultVersion
	}
	if p.DefaultMaxTokens == 0 {
		p.DefaultMaxTokens = defaultMaxTokens
	}
	return nil
}

// Validate checks the options.
func (p *Anthropic) Validate() error {
	if p.DefaultMaxTokens < 1 {
		return fmt.Errorf("default_max_tokens must be positive, not %d", p.DefaultMaxTokens)
	}
	return nil
}

// UnmarshalCaddyfile parses the provider block:
//
//	provider <name> anthropic {
//	    base_url           <url>
//	    api_key            <secret>
//	    header             <field> <value>
//	    version            <anthropic-version>
//	    default_max_tokens <n>
//	}
func (p *Anthropic) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return p.unmarshal(d, nil)
}

// UnmarshalCaddyfile parses the provider block: the options of anthropic
// and
//
//	provider <name> clewdr {
//	    endpoint code|web
//	}
func (c *Clewdr) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return c.unmarshal(d, func(d *caddyfile.Dispenser) (bool, error) {
		if d.Val() != "endpoint" {
			return false, nil
		}
		if !d.AllArgs(&c.Endpoint) {
			return true, d.ArgErr()
		}
		if c.Endpoint != "code" && c.Endpoint != "web" {
			return true, d.Errf("endpoint must be code or web, not %q", c.Endpoint)
		}
		return true, nil
	})
}

func (p *Anthropic) unmarshal(d *caddyfile.Dispenser, extra func(*caddyfile.Dispenser) (bool, error)) error {
	d.Next() // the provider type
	typ := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if ok, err := p.UnmarshalOption(d); ok {
			if err != nil {
				return err
			}
			continue
		}
		if extra != nil {
			if ok, err := extra(d); ok {
				if err != nil {
					return err
				}
				continue
			}
		}
		switch d.Val() {
		case "version":
			if !d.AllArgs(&p.Version) {
				return d.ArgErr()
			}
		case "default_max_tokens":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			var n int
			if _, err := fmt.Sscan(s, &n); err != nil || n < 1 {
				return d.Errf("bad default_max_tokens %q", s)
			}
			p.DefaultMaxTokens = n
		default:
			return d.Errf("unrecognized %s provider option %q", typ, d.Val())
		}
	}
	return nil
}

// Capabilities implements connectors.Connector.
func (p *Anthropic) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{Dialect: Dialect, Documents: p.documents}
}

// Generate implements connectors.Connector.
func (p *Anthropic) Generate(ctx context.Context, req *unified.Request) (*unified.Response, error) {
	resp, err := p.post(ctx, p.messagesURL, req, modeGenerate)
	if err != nil {
		return nil, err
	}
	return p.decodeResponse(ctx, resp, isNative(req))
}

// Stream implements connectors.Connector.
func (p *Anthropic) Stream(ctx context.Context, req *unified.Request) (unified.Stream, error) {
	resp, err := p.post(ctx, p.messagesURL, req, modeStream)
	if err != nil {
		return nil, err
	}
	return p.newStream(ctx, resp, isNative(req)), nil
}

// CountTokens implements connectors.TokenCounter.
func (p *Anthropic) CountTokens(ctx context.Context, req *unified.Request) (int, error) {
	if p.countURL == "" {
		return 0, connectors.ErrNoTokenCount
	}
	resp, err := p.post(ctx, p.countURL, req, modeCount)
	if err != nil {
		return 0, err
	}
	return p.decodeCount(resp)
}

// isNative reports whether req came from an Anthropic client and goes
// through unchanged.
func isNative(req *unified.Request) bool {
	return req.ExtensionsDialect == Dialect && len(req.Native) > 0
}

// Interface guards
var (
	_ caddy.Provisioner       = (*Anthropic)(nil)
	_ caddy.Validator         = (*Anthropic)(nil)
	_ caddy.CleanerUpper      = (*Anthropic)(nil)
	_ caddyfile.Unmarshaler   = (*Anthropic)(nil)
	_ connectors.Connector    = (*Anthropic)(nil)
	_ connectors.Named        = (*Anthropic)(nil)
	_ connectors.TokenCounter = (*Anthropic)(nil)
	_ caddy.Provisioner       = (*Clewdr)(nil)
	_ caddyfile.Unmarshaler   = (*Clewdr)(nil)
	_ connectors.Connector    = (*Clewdr)(nil)
	_ connectors.Named        = (*Clewdr)(nil)
)

// SetName implements connectors.Named.
func (p *Anthropic) SetName(name string) { p.name = name }
