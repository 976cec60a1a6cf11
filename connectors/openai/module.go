// Package openai connects to OpenAI-compatible Chat Completions APIs. It
// registers two provider types: openrouter (OpenRouter, with its defaults
// and extras) and openai (any OpenAI-compatible base URL).
package openai

import (
	"context"
	"fmt"
	"net/url"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

func init() {
	caddy.RegisterModule(OpenAI{})
	caddy.RegisterModule(OpenRouter{})
}

// OpenAI is the provider type "openai": any server that speaks OpenAI Chat
// Completions at <base_url>/chat/completions. Default base URL:
// https://api.openai.com/v1.
type OpenAI struct {
	connectors.Common

	// MaxTokensField names the request field that carries the output limit:
	// "max_tokens" (understood by nearly every compatible server) or
	// "max_completion_tokens" (required by OpenAI's reasoning models).
	// Default: max_completion_tokens for api.openai.com, max_tokens
	// elsewhere.
	MaxTokensField string `json:"max_tokens_field,omitempty"`

	name       string // provider type, for error messages
	endpoint   string
	openRouter bool
}

// OpenRouter is the provider type "openrouter". Default base URL:
// https://openrouter.ai/api/v1. Streams always ask for usage.
type OpenRouter struct {
	OpenAI
}

// CaddyModule returns the Caddy module information.
func (OpenAI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.providers.openai",
		New: func() caddy.Module { return new(OpenAI) },
	}
}

// CaddyModule returns the Caddy module information.
func (OpenRouter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.providers.openrouter",
		New: func() caddy.Module { return new(OpenRouter) },
	}
}

// Provision resolves secrets and builds the HTTP client.
func (p *OpenAI) Provision(caddy.Context) error {
	return p.setup("openai", "https://api.openai.com/v1", false)
}

// Provision resolves secrets and builds the HTTP client.
func (p *OpenRouter) Provision(caddy.Context) error {
	return p.setup("openrouter", "https://openrouter.ai/api/v1", true)
}

func (p *OpenAI) setup(name, defaultBaseURL string, openRouter bool) error {
	p.name, p.openRouter = name, openRouter
	if err := p.Common.Setup(defaultBaseURL); err != nil {
		return err
	}
	p.endpoint = p.BaseURL + "/chat/completions"
	if p.MaxTokensField == "" {
		p.MaxTokensField = "max_tokens"
		if u, err := url.Parse(p.BaseURL); err == nil && u.Hostname() == "api.openai.com" {
			p.MaxTokensField = "max_completion_tokens"
		}
	}
	return nil
}

// Validate checks the options.
func (p *OpenAI) Validate() error {
	switch p.MaxTokensField {
	case "max_tokens", "max_completion_tokens":
		return nil
	}
	return fmt.Errorf("max_tokens_field must be max_tokens or max_completion_tokens, not %q", p.MaxTokensField)
}

// UnmarshalCaddyfile parses the provider block:
//
//	provider <name> openai|openrouter {
//	    base_url         <url>
//	    api_key          <secret>
//	    header           <field> <value>
//	    max_tokens_field max_tokens|max_completion_tokens
//	}
func (p *OpenAI) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
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
		switch d.Val() {
		case "max_tokens_field":
			if !d.AllArgs(&p.MaxTokensField) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized %s provider option %q", typ, d.Val())
		}
	}
	return nil
}

// Capabilities implements connectors.Connector.
func (p *OpenAI) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{Dialect: "openai", Documents: true, MultipleChoices: !p.openRouter}
}

// Generate implements connectors.Connector.
func (p *OpenAI) Generate(ctx context.Context, req *unified.Request) (*unified.Response, error) {
	resp, err := p.post(ctx, req, false)
	if err != nil {
		return nil, err
	}
	return p.decodeResponse(ctx, resp)
}

// Stream implements connectors.Connector.
func (p *OpenAI) Stream(ctx context.Context, req *unified.Request) (unified.Stream, error) {
	resp, err := p.post(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return p.newStream(ctx, resp), nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*OpenAI)(nil)
	_ caddy.Validator       = (*OpenAI)(nil)
	_ caddy.CleanerUpper    = (*OpenAI)(nil)
	_ caddyfile.Unmarshaler = (*OpenAI)(nil)
	_ connectors.Connector  = (*OpenAI)(nil)
	_ connectors.Named      = (*OpenAI)(nil)
	_ caddy.Provisioner     = (*OpenRouter)(nil)
	_ connectors.Connector  = (*OpenRouter)(nil)
	_ connectors.Named      = (*OpenRouter)(nil)
)

// SetName implements connectors.Named.
func (p *OpenAI) SetName(name string) { p.name = name }
