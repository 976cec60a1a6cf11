package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// Secrets of the observability tests: none may appear in any log line.
const (
	obsClientKey   = "sk-obs-client-secret-7f3a"
	obsLimitedKey  = "sk-obs-limited-secret-91c2"
	obsUnknownKey  = "sk-obs-unknown-secret-5d0e"
	obsUpstreamKey = "sk-obs-upstream-secret-c4b8"
)

// observabilityConfig is a gateway whose model m-obs first tries a
// provider that fails (its breaker opens at once) and falls back to one
// that answers with known usage; m-retry fails once and succeeds on
// retry. A second site rate-limits its keys to one request a minute and
// has the tenant label off.
// Access logs go to accessLog, every other log at debug level to allLog.
func observabilityConfig(accessLog string) string {
	return fmt.Sprintf(`
:%[1]d {
	log {
		output file %[4]s
		format filter {
			request>headers>Authorization delete
			request>headers>X-Api-Key delete
		}
	}
	handle /metrics {
		metrics
	}
	log_append ttft_ms {http.xjp_gateway.ttft_ms}
	xjp_gateway {
		provider bad openrouter {
			base_url %[3]s/obsbad/api/v1
			api_key %[5]s
			breaker {
				failures 1
				cooldown 1h
			}
		}
		provider up openrouter {
			base_url %[3]s/obsup/api/v1
			api_key %[5]s
		}
		provider flaky openrouter {
			base_url %[3]s/obsflaky/api/v1
			api_key %[5]s
		}
		model m-obs {
			primary bad openai/x
			fallback up openai/gpt-4o
		}
		model m-retry {
			primary flaky openai/gpt-4o
			retry {
				attempts 2
				backoff 1ms 2ms
			}
		}
		keys {
			key %[6]s tenant obs-acme
		}
	}
}

:%[2]d {
	log {
		output file %[4]s
		format filter {
			request>headers>Authorization delete
			request>headers>X-Api-Key delete
		}
	}
	xjp_gateway {
		provider echo echo
		model m-limited echo {
			primary echo
		}
		keys {
			key %[7]s tenant obs-limited
		}
		rate_limit {
			default_rpm 1
		}
		metrics {
			tenant_label off
		}
	}
}
`, ports.http, ports.alt, fake.srv.URL, accessLog, obsUpstreamKey, obsClientKey, obsLimitedKey)
}

const obsCompletion = `{"id":"chatcmpl-obs","object":"chat.completion","created":1,"model":"openai/gpt-4o-2024-08-06",
"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],
"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":3}}}`

const obsStream = `data: {"id":"c-obs","object":"chat.completion.chunk","created":1,"model":"openai/gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"hel"},"finish_reason":null}]}

data: {"id":"c-obs","object":"chat.completion.chunk","created":1,"model":"openai/gpt-4o","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}

data: {"id":"c-obs","object":"chat.completion.chunk","created":1,"model":"openai/gpt-4o","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}

data: [DONE]

`

// obsUpstream answers the observability tests' providers.
func obsUpstream() http.HandlerFunc {
	answer := func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Stream bool `json:"stream"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Stream {
			serveSSE([]byte(obsStream))(w, r)
			return
		}
		serveJSON(200, []byte(obsCompletion))(w, r)
	}
	overloaded := serveJSON(503, []byte(`{"error":{"message":"overloaded","code":503}}`))
	return byPrefix(map[string]http.HandlerFunc{
		"/obsbad":   overloaded,
		"/obsup":    answer,
		"/obsflaky": sequence(overloaded, answer),
	})
}

// obsChat posts an OpenAI chat request with key in header (Authorization as
// a bearer token, or X-Api-Key) and returns the status and body.
func obsChat(t *testing.T, port int, header, key, model string, stream bool) (int, string) {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
	req, _ := http.NewRequest(http.MethodPost, gatewayURL(port)+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header == "Authorization" {
		req.Header.Set(header, "Bearer "+key)
	} else {
		req.Header.Set(header, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// sample returns the value of the series written exactly as series
// (labels in alphabetical order, as the exposition format writes them).
func sample(exposition, series string) (string, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(exposition)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// TestObservability drives known traffic through the gateway, then
// checks the metrics (on the admin endpoint and the metrics handler,
// before and after a reload), the access-log fields, and that no key
// appears in any log line at debug level.
func TestObservability(t *testing.T) {
	dir := t.TempDir()
	accessLog, allLog := filepath.Join(dir, "access.log"), filepath.Join(dir, "all.log")
	globals := fmt.Sprintf("log {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}", allLog)
	// Names of this run's own, so that the test passes with -count=N:
	// series, breakers and rate limiters outlive a run.
	run := strings.ToLower(rand.Text()[:8])
	unique := strings.NewReplacer("m-obs", "m-obs-"+run, "m-retry", "m-retry-"+run, "m-limited", "m-limited-"+run,
		"obs-acme", "obs-acme-"+run, "obs-limited", "obs-limited-"+run, obsLimitedKey, obsLimitedKey+"-"+run,
		"/obsbad/", "/obsbad-"+run+"/", "/obsup/", "/obsup-"+run+"/", "/obsflaky/", "/obsflaky-"+run+"/")
	config := unique.Replace(observabilityConfig(accessLog))
	adminMetrics := fmt.Sprintf("http://localhost:%d/metrics", ports.admin)
	// Series without a run's name (the tenant label is off) are compared
	// with their value before the run.
	shared := []string{`xjp_requests_total{model="",provider="",status="429",tenant=""}`, `xjp_rate_limited_total{tenant=""}`}
	before := map[string]float64{}
	loadCaddyfileGlobals(t, globals, config)
	for _, series := range shared {
		v, _ := sample(scrape(t, adminMetrics), series)
		before[series], _ = strconv.ParseFloat(v, 64)
	}
	fake.reset(t, obsUpstream())

	// m-obs: bad fails and its breaker opens; up serves by fallback.
	if status, body := obsChat(t, ports.http, "Authorization", obsClientKey, unique.Replace("m-obs"), false); status != 200 || !strings.Contains(body, "hello") {
		t.Fatalf("non-streamed: %d %s", status, body)
	}
	// The breaker is open now: bad is passed over, up streams.
	if status, body := obsChat(t, ports.http, "X-Api-Key", obsClientKey, unique.Replace("m-obs"), true); status != 200 || !strings.Contains(body, "[DONE]") {
		t.Fatalf("streamed: %d %s", status, body)
	}
	if status, _ := obsChat(t, ports.http, "Authorization", obsClientKey, unique.Replace("m-retry"), false); status != 200 {
		t.Fatalf("m-retry: %d", status)
	}
	if status, _ := obsChat(t, ports.http, "Authorization", obsUnknownKey, unique.Replace("m-obs"), false); status != 401 {
		t.Fatalf("unknown key: %d", status)
	}
	for i, want := range []int{200, 429} {
		if status, body := obsChat(t, ports.alt, "X-Api-Key", unique.Replace(obsLimitedKey), unique.Replace("m-limited"), false); status != want {
			t.Fatalf("limited request %d: %d %s", i, status, body)
		}
	}
	if got := fake.calls("/obsbad"); got != 1 {
		t.Errorf("the failing provider got %d calls, want 1 (then its breaker opened)", got)
	}

	want := map[string]string{
		`xjp_requests_total{model="m-obs",provider="up",status="200",tenant="obs-acme"}`:      "2",
		`xjp_requests_total{model="m-retry",provider="flaky",status="200",tenant="obs-acme"}`: "1",
		`xjp_requests_total{model="",provider="",status="429",tenant=""}`:                     "1", // refused before its body was read
		`xjp_requests_total{model="m-limited",provider="echo",status="200",tenant=""}`:        "1",
		`xjp_request_duration_seconds_count{model="m-obs",provider="up"}`:                     "2",
		`xjp_time_to_first_token_seconds_count{model="m-obs",provider="up"}`:                  "1",
		`xjp_tokens_total{model="m-obs",tenant="obs-acme",type="prompt"}`:                     "16",
		`xjp_tokens_total{model="m-obs",tenant="obs-acme",type="completion"}`:                 "11",
		`xjp_tokens_total{model="m-obs",tenant="obs-acme",type="cached"}`:                     "3",
		`xjp_upstream_attempts_total{model="m-obs",outcome="error",provider="bad"}`:           "1",
		`xjp_upstream_attempts_total{model="m-obs",outcome="ok",provider="up"}`:               "2",
		`xjp_upstream_attempts_total{model="m-retry",outcome="error",provider="flaky"}`:       "1",
		`xjp_upstream_attempts_total{model="m-retry",outcome="ok",provider="flaky"}`:          "1",
		`xjp_upstream_retries_total{model="m-retry",provider="flaky"}`:                        "1",
		`xjp_fallbacks_total{model="m-obs",provider="up"}`:                                    "2",
		`xjp_rate_limited_total{tenant=""}`:                                                   "1",
		`xjp_circuit_breaker_state{model="openai/x",provider="bad"}`:                          "2",
		`xjp_circuit_breaker_state{model="openai/gpt-4o",provider="up"}`:                      "",
		`xjp_requests_in_flight`:             "0",
		`xjp_streams_in_flight`:              "0",
		`xjp_gateway_overhead_seconds_count`: "*",
	}
	check := func(where, exposition string) {
		t.Helper()
		for series, v := range want {
			if _, isShared := before[series]; !isShared {
				series = unique.Replace(series)
			}
			got, ok := sample(exposition, series)
			if b, isShared := before[series]; isShared && ok {
				f, _ := strconv.ParseFloat(got, 64)
				got = strconv.FormatFloat(f-b, 'f', -1, 64)
			}
			switch {
			case v == "" && ok:
				t.Errorf("%s: %s = %s, want no such series (the route has no breaker)", where, series, got)
			case v == "*" && !ok, v != "" && v != "*" && got != v:
				t.Errorf("%s: %s = %q, want %q", where, series, got, v)
			}
		}
		if strings.Contains(exposition, unique.Replace(`tenant="obs-limited"`)) {
			t.Errorf("%s: the tenant label of a gateway with tenant_label off", where)
		}
		if strings.Contains(exposition, "key_id") || strings.Contains(exposition, obsClientKey) {
			t.Errorf("%s: a key or key id in the metrics", where)
		}
	}
	check("admin /metrics", scrape(t, adminMetrics))
	check("metrics handler", scrape(t, gatewayURL(ports.http)+"/metrics"))

	// Access log: the gateway's fields, under "xjp".
	entries := waitForAccessLog(t, accessLog, 6)
	var streamed, streamedEntry map[string]any
	for _, e := range entries {
		if xjp, _ := e["xjp"].(map[string]any); xjp != nil && xjp["stream"] == true {
			streamed, streamedEntry = xjp, e
		}
	}
	if streamed == nil {
		t.Fatalf("no access-log entry of the streamed request:\n%v", entries)
	}
	for k, v := range map[string]any{"tenant": unique.Replace("obs-acme"), "model": unique.Replace("m-obs"), "provider": "up", "upstream_model": "openai/gpt-4o",
		"attempts": 1.0, "fallback": true, "input_tokens": 5.0, "output_tokens": 4.0, "dialect": "openai"} {
		if streamed[k] != v {
			t.Errorf("access log xjp.%s = %v, want %v (entry %v)", k, streamed[k], v, streamed)
		}
	}
	if ttft, _ := streamed["ttft"].(float64); ttft <= 0 {
		t.Errorf("access log xjp.ttft = %v", streamed["ttft"])
	}
	if id, _ := streamed["request_id"].(string); id == "" {
		t.Error("no request id in the access log")
	}
	if ms, ok := streamedEntry["ttft_ms"].(string); !ok || ms == "" || ms == "0.000" {
		t.Errorf("log_append ttft_ms = %v", streamedEntry["ttft_ms"])
	}

	// Reload: the counters keep their values and nothing is registered twice.
	loadCaddyfileGlobals(t, globals, config+"\n:"+fmt.Sprint(ports.https)+" {\n\trespond ok\n}\n")
	after := scrape(t, adminMetrics)
	if got, _ := sample(after, unique.Replace(`xjp_requests_total{model="m-obs",provider="up",status="200",tenant="obs-acme"}`)); got != "2" {
		t.Errorf("after a reload, xjp_requests_total = %q, want 2", got)
	}

	// No secret in any log line, at debug level.
	for _, file := range []string{accessLog, allLog} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Errorf("%s is empty: the test logs nothing", file)
		}
		for _, secret := range []string{obsClientKey, obsLimitedKey, obsUnknownKey, obsUpstreamKey} { // a run's limited key contains obsLimitedKey
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the secret %s", filepath.Base(file), secret)
			}
		}
	}
}

// waitForAccessLog reads the access log until it has at least n entries:
// Caddy writes an entry after the response has gone.
func waitForAccessLog(t *testing.T, path string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // a hang guard only
	for {
		var entries []map[string]any
		if f, err := os.Open(path); err == nil {
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var e map[string]any
				if json.Unmarshal(sc.Bytes(), &e) == nil && e["msg"] == "handled request" {
					entries = append(entries, e)
				}
			}
			f.Close()
		}
		if len(entries) >= n || time.Now().After(deadline) {
			if len(entries) < n {
				t.Fatalf("%d access-log entries, want %d", len(entries), n)
			}
			return entries
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTracePropagation: with Caddy's tracing directive and the gateway's
// propagate option, the provider's call carries the client's trace (the
// trace id the client sent) under a span of the gateway's own.
func TestTracePropagation(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none") // spans are made, not sent anywhere
	loadCaddyfile(t, fmt.Sprintf(`
:%[1]d {
	tracing
	xjp_gateway {
		provider up openrouter {
			base_url %[2]s/obsup/api/v1
			api_key %[3]s
		}
		model m-traced {
			primary up openai/gpt-4o
		}
		keys {
			key %[4]s tenant obs-acme
		}
		tracing {
			propagate
		}
	}
}
`, ports.http, fake.srv.URL, obsUpstreamKey, obsClientKey))
	fake.reset(t, obsUpstream())

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	body := `{"model":"m-traced","messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest(http.MethodPost, gatewayURL(ports.http)+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+obsClientKey)
	req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := fake.only(t).Header.Get("Traceparent")
	parts := strings.Split(got, "-")
	if len(parts) != 4 || parts[1] != traceID || parts[2] == "00f067aa0ba902b7" || parts[3] != "01" {
		t.Errorf("upstream traceparent %q, want the client's trace %s under a span of the gateway's", got, traceID)
	}
}

// TestReadinessFollowsTheDatabase: the readiness probe says 503 while the
// key store's database is down and 200 again once it is back; the usage
// log's queue depth is among the metrics.
func TestReadinessFollowsTheDatabase(t *testing.T) {
	dsn := pgtest.Migrated(t)
	proxy := pgtest.NewProxy(t, pgtest.Host(t, dsn))
	loadSites(t, pgSite{port: ports.http, dsn: pgtest.WithHost(t, dsn, proxy.Addr()), extra: "health_path /healthz"})

	probe := func() (int, string) {
		resp, err := http.Get(gatewayURL(ports.http) + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// awaitProbe probes until the answer has status want: answers are
	// cached for a second.
	awaitProbe := func(want int, body string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second) // a hang guard only
		for {
			status, got := probe()
			if status == want {
				if got != body {
					t.Errorf("probe %d: body %q, want %q", status, got, body)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("probe still %d %q, want %d", status, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ok := `{"status":"ok","checks":{"key_store":"ok"}}` + "\n"
	awaitProbe(200, ok)
	proxy.Stop()
	awaitProbe(503, `{"status":"unavailable","checks":{"key_store":"unavailable"}}`+"\n")
	proxy.Start()
	awaitProbe(200, ok)

	if m := scrape(t, fmt.Sprintf("http://localhost:%d/metrics", ports.admin)); !strings.Contains(m, "\nxjp_usage_log_queue_depth ") {
		t.Error("xjp_usage_log_queue_depth is not in the metrics")
	}
}
