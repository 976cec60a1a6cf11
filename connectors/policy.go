package connectors

import "github.com/xiaojinpro/xjp-gateway/resilience"

// Policy is what the gateway needs to know of a provider to guard its
// routes: which upstream it is (for the breakers' shared state) and its
// timeouts and breaker settings.
type Policy struct {
	// Upstream identifies the provider's endpoint, e.g. its base URL.
	Upstream string
	Timeouts *resilience.Timeouts
	Breaker  *resilience.BreakerConfig
}

// PolicyHolder is a connector with resilience settings. Every connector
// that embeds Common is one; a connector that is not gets the gateway's
// default timeouts and no breaker.
type PolicyHolder interface {
	Policy() Policy
}

// Policy implements PolicyHolder.
func (c *Common) Policy() Policy {
	return Policy{Upstream: c.BaseURL, Timeouts: c.Timeouts, Breaker: c.Breaker}
}
