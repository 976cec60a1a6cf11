package connectors

import (
	"context"
	"errors"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// TokenCounter is implemented by connectors whose provider counts a
// request's input tokens exactly (Anthropic's /v1/messages/count_tokens).
// The gateway estimates the count for every other provider.
type TokenCounter interface {
	// CountTokens returns the input tokens of req (whose Model is the
	// upstream model name), or ErrNoTokenCount when this provider cannot
	// count after all (a configuration without the endpoint).
	CountTokens(ctx context.Context, req *unified.Request) (int, error)
}

// ErrNoTokenCount says a TokenCounter cannot count for this request.
var ErrNoTokenCount = errors.New("the provider cannot count tokens")
