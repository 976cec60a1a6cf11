package xjpgateway

import (
	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
	"github.com/xiaojinpro/xjp-gateway/validate"
)

// validate checks the decoded request against the limits and what the
// model's primary route can serve, and names a faulty field in the
// client's dialect.
func (g *Gateway) validate(c *call) *unified.Error {
	l := validate.Limits{
		MaxMessages:     g.Limits.MaxMessages,
		MaxTools:        g.Limits.MaxTools,
		MaxOutputTokens: g.Limits.MaxOutputTokens,
	}
	if c.req.N > 1 {
		// The first route tried is the primary one (routing.Model.Plan);
		// a request it refuses would not reach the fallbacks.
		l.MultipleChoices = c.model.Primary[0].Connector.Capabilities().MultipleChoices
	}
	p := validate.Request(c.req, l)
	if p == nil {
		return nil
	}
	e := &unified.Error{Kind: unified.KindInvalidRequest, Message: p.Message}
	if n, ok := c.dialect.(handlers.FieldNamer); ok {
		e.Param = n.FieldName(c.req, c.body, p.At)
	}
	return e
}
