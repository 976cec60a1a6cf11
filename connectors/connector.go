// Package connectors defines how the gateway talks to providers. Each
// provider type lives in its own subpackage and registers itself as the Caddy
// guest module http.xjp_gateway.providers.<type>, so a new provider is a new
// package, not an edit of a switch.
package connectors

import (
	"context"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Connector speaks one provider's wire format.
//
// Both calls send req (whose Model is already the upstream model name) and
// honour ctx: cancelling it aborts the upstream call, also mid-stream.
// Failures are *unified.Error values with secrets scrubbed.
type Connector interface {
	// Capabilities describes what the provider accepts.
	Capabilities() Capabilities

	// Generate returns a whole response.
	Generate(ctx context.Context, req *unified.Request) (*unified.Response, error)

	// Stream returns once the upstream has accepted the request; the
	// events follow through the stream, which the caller must Close.
	Stream(ctx context.Context, req *unified.Request) (unified.Stream, error)
}

// Named is implemented by connectors whose failures name the provider.
// The gateway calls SetName after provisioning with the name the provider
// has in the config (the Caddyfile's provider <name>), so that an error
// says which of several providers of one type failed; until then the
// connector uses its type name.
type Named interface {
	SetName(name string)
}

// Capabilities describes a provider.
type Capabilities struct {
	// Dialect is the provider's wire family ("openai", "anthropic",
	// "gemini"). A request's Extensions are forwarded only to a provider of
	// the dialect they came from.
	Dialect string
	// Documents is true when the provider accepts inline document parts
	// (PDFs).
	Documents bool
	// MultipleChoices is true when the provider can return n > 1 choices.
	MultipleChoices bool
}
