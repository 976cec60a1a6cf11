package xjpgateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/routing"
)

// RouteList is one route or several. In JSON it is an object for one
// route (the form of configs written before a model could have several
// primaries) and an array for several; both forms are read.
type RouteList []RouteConfig

// MarshalJSON writes one route as an object, several as an array.
func (l RouteList) MarshalJSON() ([]byte, error) {
	if len(l) == 1 {
		return json.Marshal(l[0])
	}
	return json.Marshal([]RouteConfig(l))
}

// UnmarshalJSON reads an object or an array of routes.
func (l *RouteList) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var r RouteConfig
		if err := caddy.StrictUnmarshalJSON(b, &r); err != nil {
			return err
		}
		*l = RouteList{r}
		return nil
	}
	return caddy.StrictUnmarshalJSON(b, (*[]RouteConfig)(l))
}

// buildRoutes resolves every model's routes: their connectors, timeouts,
// circuit breakers (acquired from the pool that outlives this config) and
// retry policy.
func (g *Gateway) buildRoutes() error {
	retry, err := g.Retry.Over(resilience.DefaultRetry)
	if err != nil {
		return err
	}
	models := make([]*routing.Model, 0, len(g.Models))
	aliases := make(map[string][]string, len(g.Models))
	for name, mc := range g.Models {
		if mc == nil || len(mc.Primary) == 0 {
			return fmt.Errorf("model %q: a primary route is required", name)
		}
		m := &routing.Model{Name: name}
		if m.Retry, err = mc.Retry.Over(retry); err != nil {
			return fmt.Errorf("model %q: %w", name, err)
		}
		if mc.Timeouts != nil && mc.Timeouts.Dial != 0 {
			return fmt.Errorf("model %q: the dial timeout is set on a provider, not a model", name)
		}
		for _, rc := range mc.Primary {
			r, err := g.route(name, rc, mc.Timeouts)
			if err != nil {
				return err
			}
			m.Primary = append(m.Primary, r)
		}
		for _, rc := range mc.Fallbacks {
			if rc.Weight != 0 {
				return fmt.Errorf("model %q: fallback %q: only primary routes have a weight", name, rc.Provider)
			}
			r, err := g.route(name, rc, mc.Timeouts)
			if err != nil {
				return err
			}
			m.Fallbacks = append(m.Fallbacks, r)
		}
		models = append(models, m)
		aliases[name] = mc.Aliases
	}
	table, err := routing.NewTable(models, aliases)
	if err != nil {
		return err
	}
	g.routes = table
	return nil
}

// route resolves one route of model; timeouts are the model's overrides.
func (g *Gateway) route(model string, rc RouteConfig, timeouts *resilience.Timeouts) (routing.Route, error) {
	conn, ok := g.providers[rc.Provider]
	if !ok {
		return routing.Route{}, fmt.Errorf("model %q: unknown provider %q", model, rc.Provider)
	}
	if rc.Weight < 0 {
		return routing.Route{}, fmt.Errorf("model %q: route %q: the weight must be positive", model, rc.Provider)
	}
	upstream := rc.Model
	if upstream == "" {
		upstream = model
	}
	r := routing.Route{Provider: rc.Provider, Connector: conn, Model: upstream, Weight: rc.Weight,
		Timeouts: resilience.DefaultLimits}
	if ph, ok := conn.(connectors.PolicyHolder); ok {
		p := ph.Policy()
		r.Timeouts = p.Timeouts.Over(r.Timeouts)
		if p.Breaker != nil {
			b, release, err := resilience.AcquireBreaker(rc.Provider+"/"+upstream, p.Upstream, *p.Breaker)
			if err != nil {
				return routing.Route{}, fmt.Errorf("provider %q: %w", rc.Provider, err)
			}
			g.releaseBreakers = append(g.releaseBreakers, release)
			r.Breaker = b
		}
	}
	r.Timeouts = timeouts.Over(r.Timeouts)
	return r, nil
}

// releaseRoutes gives back the breakers buildRoutes acquired.
func (g *Gateway) releaseRoutes() error {
	var errs []error
	for _, release := range g.releaseBreakers {
		errs = append(errs, release())
	}
	g.releaseBreakers = nil
	return errors.Join(errs...)
}
