package routing

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	a := &Model{Name: "a", Primary: []Route{{Provider: "p1", Model: "up-a"}}, Fallbacks: []Route{{Provider: "p2"}, {Provider: "p3"}}}
	b := &Model{Name: "b", Primary: []Route{{Provider: "p1"}}}
	table, err := NewTable([]*Model{b, a}, map[string][]string{"a": {"alias-a"}})
	if err != nil {
		t.Fatal(err)
	}
	if table.Lookup("a") != a || table.Lookup("alias-a") != a || table.Lookup("b") != b || table.Lookup("c") != nil {
		t.Error("lookup by name or alias failed")
	}
	if ms := table.Models(); len(ms) != 2 || ms[0] != a || ms[1] != b {
		t.Errorf("models not sorted: %v", ms)
	}
	var order []string
	for _, r := range a.Plan() {
		order = append(order, r.Provider)
	}
	if strings.Join(order, ",") != "p1,p2,p3" {
		t.Errorf("plan = %v", order)
	}
}

func TestTableRejects(t *testing.T) {
	m := func(name string) *Model { return &Model{Name: name, Primary: []Route{{Provider: "p"}}} }
	tests := []struct {
		name    string
		models  []*Model
		aliases map[string][]string
		want    string
	}{
		{"no primary", []*Model{{Name: "x"}}, nil, "primary route is required"},
		{"duplicate name", []*Model{m("x"), m("x")}, nil, `"x" is defined twice`},
		{"alias shadows a model", []*Model{m("x"), m("y")}, map[string][]string{"x": {"y"}}, `"y" is defined twice`},
	}
	for _, tt := range tests {
		if _, err := NewTable(tt.models, tt.aliases); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}
