package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xiaojinpro/xjp-gateway/usage"
)

// TestDashboardUsesKnownSeries keeps examples/grafana/xjp-gateway.json
// valid JSON whose queries name only series the gateway exports.
func TestDashboardUsesKnownSeries(t *testing.T) {
	raw, err := os.ReadFile("../examples/grafana/xjp-gateway.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}

	known := map[string]bool{}
	descs := make(chan *prometheus.Desc, 100)
	for _, c := range collectors {
		c.Describe(descs)
	}
	reg := prometheus.NewRegistry()
	if err := usage.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	close(descs)
	nameOf := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range descs {
		known[nameOf.FindStringSubmatch(d.String())[1]] = true
	}
	families, _ := reg.Gather()
	for _, f := range families {
		known[f.GetName()] = true
	}

	series := regexp.MustCompile(`xjp_[a-z_]+`)
	used := 0
	for _, name := range series.FindAllString(string(raw), -1) {
		if name == "xjp_gateway" || strings.HasPrefix(name, "xjp_gateway_") && !strings.HasPrefix(name, "xjp_gateway_overhead") {
			continue // the dashboard's uid and tags
		}
		base := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !known[base] {
			t.Errorf("the dashboard queries %s, which the gateway does not export", name)
		}
		used++
	}
	if used < 10 {
		t.Errorf("the dashboard queries only %d series", used)
	}
}
