package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xiaojinpro/xjp-gateway/ratelimit"
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

	known := describer{}
	for _, register := range []func(prometheus.Registerer) error{Register, usage.RegisterMetrics, ratelimit.RegisterMetrics} {
		if err := register(known); err != nil {
			t.Fatal(err)
		}
	}

	series := regexp.MustCompile(`xjp_[a-z_]+`)
	used := 0
	for _, name := range series.FindAllString(string(raw), -1) {
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

// describer is a Registerer that keeps the names of the series its
// collectors describe.
type describer map[string]bool

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d describer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	c.Describe(ch)
	close(ch)
	for desc := range ch {
		d[fqName.FindStringSubmatch(desc.String())[1]] = true
	}
	return nil
}

func (d describer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

func (describer) Unregister(prometheus.Collector) bool { return false }
