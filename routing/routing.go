// Package routing maps the public model names clients ask for to the
// provider routes that serve them.
package routing

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/resilience"
)

// Route is one way to serve a model: a provider and the model name it knows.
type Route struct {
	Provider  string // the provider's configured name
	Connector connectors.Connector
	Model     string // upstream model name
	// Weight is the route's share of a model's traffic among its primary
	// routes; 0 counts as 1.
	Weight int
	// Timeouts bound each call of the route.
	Timeouts resilience.Limits
	// Breaker is the route's circuit breaker; nil for none.
	Breaker *resilience.Breaker
}

// Model is a public model and its routes.
type Model struct {
	Name string
	// Primary routes share the model's traffic by weight; each request
	// tries the one picked first, then the other primaries, in order.
	Primary []Route
	// Fallbacks are tried, in order, after the primaries.
	Fallbacks []Route
	// Retry says when a failed call is repeated on the same route. The
	// zero value calls each route once.
	Retry resilience.RetryPolicy

	mu      sync.Mutex
	current []int // smooth weighted round-robin state, one per primary
}

// Plan returns the routes to try for one request, in order: the primary
// the load balancer picks, the other primaries, then the fallbacks.
func (m *Model) Plan() []Route {
	plan := make([]Route, 0, len(m.Primary)+len(m.Fallbacks))
	first := m.pick()
	plan = append(plan, m.Primary[first])
	for i, r := range m.Primary {
		if i != first {
			plan = append(plan, r)
		}
	}
	return append(plan, m.Fallbacks...)
}

// pick chooses a primary route by smooth weighted round-robin (nginx's
// algorithm): over any run of requests each route's share is its weight's
// share, and the picks are spread out rather than bunched. Routes whose
// breaker is open are passed over; when all are, the first is returned
// (its breaker will skip it).
func (m *Model) pick() int {
	if len(m.Primary) == 1 {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.current) != len(m.Primary) {
		m.current = make([]int, len(m.Primary))
	}
	best, total := -1, 0
	for i := range m.Primary {
		r := &m.Primary[i]
		if r.Breaker.Open() {
			continue
		}
		w := max(r.Weight, 1)
		total += w
		m.current[i] += w
		if best < 0 || m.current[i] > m.current[best] {
			best = i
		}
	}
	if best < 0 {
		return 0
	}
	m.current[best] -= total
	return best
}

// Table resolves public names and aliases.
type Table struct {
	byName map[string]*Model
	models []*Model // canonical models, sorted by name
}

// NewTable indexes models by name and alias, refusing a name used twice.
func NewTable(models []*Model, aliases map[string][]string) (*Table, error) {
	t := &Table{byName: make(map[string]*Model, len(models))}
	for _, m := range models {
		if len(m.Primary) == 0 {
			return nil, fmt.Errorf("model %q: a primary route is required", m.Name)
		}
		if err := t.add(m.Name, m); err != nil {
			return nil, err
		}
		for _, a := range aliases[m.Name] {
			if err := t.add(a, m); err != nil {
				return nil, err
			}
		}
		t.models = append(t.models, m)
	}
	slices.SortFunc(t.models, func(a, b *Model) int { return strings.Compare(a.Name, b.Name) })
	return t, nil
}

func (t *Table) add(name string, m *Model) error {
	if _, dup := t.byName[name]; dup {
		return fmt.Errorf("model name %q is defined twice", name)
	}
	t.byName[name] = m
	return nil
}

// Lookup returns the model for a public name or alias, or nil.
func (t *Table) Lookup(name string) *Model { return t.byName[name] }

// Models lists the canonical models, sorted by name.
func (t *Table) Models() []*Model { return t.models }
