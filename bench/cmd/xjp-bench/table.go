package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/xiaojinpro/xjp-gateway/bench/loadgen"
)

// aggregate is a cell's numbers over its rounds: throughput and costs from
// the totals, latency percentiles as the median of the rounds' values.
type aggregate struct {
	RPS                      float64
	P50, P99, P999           float64
	FirstEventP50, GapP99    float64
	Errors                   int64
	ProxyCPUPer1k, MockCPU1k float64
	CPUPerEventUS            float64
	UserPerEventUS           float64
	PeakRSS                  int64
	proxy                    bool
}

func aggregateRounds(rs []*loadgen.Result, server string) *aggregate {
	a := &aggregate{proxy: server != "mock"}
	var ok, secs, proxyCPU, proxyUser, mockCPU, events float64
	med := func(f func(*loadgen.Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	for _, r := range rs {
		ok += float64(r.Requests - r.Errors)
		secs += r.Seconds
		a.Errors += r.Errors
		events += float64(r.Events)
		mockCPU += r.Procs["mock"].CPUSeconds
		p := r.Procs["mock"]
		if a.proxy {
			p = r.Procs["proxy"]
			proxyCPU += p.CPUSeconds
			proxyUser += p.UserSeconds
		}
		a.PeakRSS = max(a.PeakRSS, p.PeakRSSByte)
	}
	if secs > 0 {
		a.RPS = ok / secs
	}
	a.P50 = med(func(r *loadgen.Result) float64 { return r.Latency.P50 })
	a.P99 = med(func(r *loadgen.Result) float64 { return r.Latency.P99 })
	a.P999 = med(func(r *loadgen.Result) float64 { return r.Latency.P999 })
	a.FirstEventP50 = med(func(r *loadgen.Result) float64 { return r.FirstEvent.P50 })
	a.GapP99 = med(func(r *loadgen.Result) float64 { return r.Gap.P99 })
	if ok > 0 {
		a.ProxyCPUPer1k = proxyCPU / ok * 1000
		a.MockCPU1k = mockCPU / ok * 1000
	}
	if events > 0 && a.proxy {
		a.CPUPerEventUS = proxyCPU / events * 1e6
		a.UserPerEventUS = proxyUser / events * 1e6
	}
	return a
}

// renderTable prints the matrix as one Markdown table.
func renderTable(cells []*cell, all map[string]*cell, key func(string, bool, int) string) string {
	var b strings.Builder
	b.WriteString("| mode | conc | target | RPS | p50 | p99 | p99.9 | errors | +p50 µs | +p99 µs | RPS / caddy | CPU s/1k req | mock CPU s/1k | peak RSS | first event p50 | gap p99 | CPU µs/event (user) |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		a := c.agg
		direct := all[key("direct", c.Stream, c.Concurrency)]
		caddy := all[key("caddy-proxy", c.Stream, c.Concurrency)]
		added := func(f func(*aggregate) float64) string {
			if direct == nil || c.Lane == "direct" {
				return "—"
			}
			return fmt.Sprintf("%+.0f", f(a)-f(direct.agg))
		}
		ratio := "—"
		if caddy != nil && caddy.agg.RPS > 0 {
			ratio = fmt.Sprintf("%.2f", a.RPS/caddy.agg.RPS)
		}
		cpu, perEvent := "—", "—"
		if a.proxy {
			cpu = fmt.Sprintf("%.3f", a.ProxyCPUPer1k)
			if c.Stream {
				perEvent = fmt.Sprintf("%.1f (%.1f)", a.CPUPerEventUS, a.UserPerEventUS)
			}
		}
		fe, gap := "—", "—"
		if c.Stream {
			fe, gap = fmtUS(a.FirstEventP50), fmtUS(a.GapP99)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %.0f | %s | %s | %s | %d | %s | %s | %s | %s | %.3f | %.1f MiB | %s | %s | %s |\n",
			modeName(c.Stream), c.Concurrency, c.Lane, a.RPS, fmtUS(a.P50), fmtUS(a.P99), fmtUS(a.P999), a.Errors,
			added(func(x *aggregate) float64 { return x.P50 }), added(func(x *aggregate) float64 { return x.P99 }),
			ratio, cpu, a.MockCPU1k, float64(a.PeakRSS)/(1<<20), fe, gap, perEvent)
	}
	return b.String()
}

// fmtUS shows microseconds as µs below 10 ms and as ms above.
func fmtUS(us float64) string {
	if us < 10000 {
		return fmt.Sprintf("%.0fµs", us)
	}
	return fmt.Sprintf("%.1fms", us/1000)
}
