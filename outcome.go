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
