// Package routing maps the public model names clients ask for to the
// provider routes that serve them.
package routing

import (
	"fmt"
	"slices"
	"strings"

	"github.com/xiaojinpro/xjp-gateway/connectors"
)

// Route is one way to serve a model: a provider and the model name it knows.
type Route struct {
	Provider  string // the provider's configured name
	Connector connectors.Connector
	Model     string // upstream model name
	Weight    int
}

// Model is a public model and its routes.
type Model struct {
	Name      string
	Primary   []Route
	Fallbacks []Route
}

// Plan returns the routes to try for one request, in order: a primary
// route first, then the fallbacks.
func (m *Model) Plan() []Route {
	plan := make([]Route, 0, 1+len(m.Fallbacks))
	plan = append(plan, m.Primary[0])
	return append(plan, m.Fallbacks...)
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
