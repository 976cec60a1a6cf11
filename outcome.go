package xjpgateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// status is the HTTP status that sums up the request, for the usage row,
// the metrics and the trace: the answer's status, or 499 when the client
// left before the answer was complete.
func (c *call) status() int {
	switch {
	case c.err != nil && c.err.Kind == unified.KindTimeout && c.ctx != nil && errors.Is(c.ctx.Err(), context.Canceled):
		return statusClientClosed // the upstream call was cancelled because the client left
	case c.err != nil:
		return c.err.Status()
	case c.req != nil && c.req.Stream && !c.upstreamEnded:
		return statusClientClosed // the stream stopped because its client left
	}
	return http.StatusOK
}

// billedUsage is the usage the request is charged for: what the provider
// reported, and for a stream that ended without a usage report (it broke,
// or the client left) an estimate of what it produced.
func (c *call) billedUsage() unified.Usage {
	u := c.usage
	if c.produced > 0 {
		if u.OutputTokens == 0 {
			u.OutputTokens = (c.produced + 3) / 4 // unified.EstimateTokens of the text
		}
		if u.InputTokens == 0 && c.req != nil {
			u.InputTokens = c.req.EstimateInputTokens()
		}
	}
	return u
}
