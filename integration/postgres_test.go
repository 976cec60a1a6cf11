package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
	"github.com/xiaojinpro/xjp-gateway/cli"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// pgSite is a site serving the gateway with the postgres key store on
// port, with the echo provider (deterministic usage) and the fake
// upstream as OpenRouter.
type pgSite struct {
	port  int
	dsn   string
	extra string // more xjp_gateway options (rate_limit …)
	store string // more postgres store options
	echo  string // options of the echo provider
}

func (s pgSite) String() string {
	return fmt.Sprintf(`
:%d {
	xjp_gateway {
		provider echo echo {
			%s
		}
		provider or openrouter {
			base_url %s/api/v1
			api_key sk-or-test
		}
		model echo-1 {
			primary echo
		}
		model other-1 {
			primary echo
		}
		model gpt-test {
			primary or openai/gpt-4o
		}
		auth postgres {
			dsn "%s"
			cache_ttl 1h
			negative_cache_ttl 1h
			usage {
				flush_interval 20ms
			}
			%s
		}
		%s
	}
}
`, s.port, s.echo, fake.srv.URL, s.dsn, s.store, s.extra)
}

func loadSites(t *testing.T, sites ...pgSite) {
	t.Helper()
	var b strings.Builder
	for _, s := range sites {
		b.WriteString(s.String())
	}
	loadCaddyfile(t, b.String())
}

// keyAdmin creates and changes keys as an operator would.
type keyAdmin struct {
	t    *testing.T
	conn *pgx.Conn
	dsn  string
}

func newKeyAdmin(t *testing.T, dsn string) *keyAdmin {
	return &keyAdmin{t: t, conn: pgtest.Connect(t, dsn), dsn: dsn}
}

func (a *keyAdmin) create(spec postgres.KeySpec) *postgres.NewKey {
	a.t.Helper()
	if spec.Tenant == "" {
		spec.Tenant = "acme"
	}
	k, err := postgres.CreateKey(context.Background(), a.conn, postgres.Hasher{}, spec)
	if err != nil {
		a.t.Fatal(err)
	}
	return k
}

func (a *keyAdmin) exec(sql string, args ...any) {
	a.t.Helper()
	if _, err := a.conn.Exec(context.Background(), sql, args...); err != nil {
		a.t.Fatal(err)
	}
}

func (a *keyAdmin) count(sql string, args ...any) int64 {
	a.t.Helper()
	var n int64
	if err := a.conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// waitRows waits until the usage log holds n rows (the gateway writes
// them in batches) and fails after 10 s.
func (a *keyAdmin) waitRows(n int64) {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := a.count("SELECT count(*) FROM usage_logs")
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			a.t.Fatalf("usage_logs has %d rows, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// chat sends one chat request and returns the response with its body
// read.
func chat(t *testing.T, port int, key, model string, stream bool) (*http.Response, []byte) {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"stream":%t,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there, gateway"}]}`, model, stream)
	if !stream {
		body = fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"Hello there, gateway"}]}`, model)
	}
	req, _ := http.NewRequest(http.MethodPost, gatewayURL(port)+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// errorOf decodes an OpenAI error body.
func errorOf(t *testing.T, body []byte) (typ, code string) {
	t.Helper()
	var e struct {
		Error struct {
			Type string `json:"type"`
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not an OpenAI error: %s", body)
	}
	return e.Error.Type, e.Error.Code
}

// awaitAnnouncements returns once the gateway has heard every key change
// announced so far. The database delivers announcements in order, so it
// waits for the last one of its own: a barrier key, cached, then revoked,
// is refused once the revocation has been heard.
func awaitAnnouncements(t *testing.T, admin *keyAdmin) {
	t.Helper()
	barrier := admin.create(postgres.KeySpec{})
	if resp, body := chat(t, ports.http, barrier.Secret, "echo-1", false); resp.StatusCode != 200 {
		t.Fatalf("barrier key: %d %s", resp.StatusCode, body)
	}
	if _, err := postgres.RevokeKey(context.Background(), admin.conn, postgres.Hasher{}, barrier.ID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		resp, _ := chat(t, ports.http, barrier.Secret, "echo-1", false)
		if resp.StatusCode == 401 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the gateway never heard the barrier key's revocation")
		}
	}
}

func TestPostgresAuthMatrix(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	proxy := pgtest.NewProxy(t, pgtest.Host(t, dsn))
	loadSites(t, pgSite{port: ports.http, dsn: pgtest.WithHost(t, dsn, proxy.Addr())})

	valid := admin.create(postgres.KeySpec{})
	scoped := admin.create(postgres.KeySpec{Models: []string{"echo-*"}})
	revoked := admin.create(postgres.KeySpec{})
	expired := admin.create(postgres.KeySpec{ExpiresAt: time.Now().Add(time.Hour)})
	neverUsed := admin.create(postgres.KeySpec{})
	if _, err := postgres.RevokeKey(context.Background(), admin.conn, postgres.Hasher{}, revoked.ID); err != nil {
		t.Fatal(err)
	}
	admin.exec("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1::text::uuid", expired.ID)
	// The announcements of these changes must not evict a key the matrix
	// caches below, or the cached key could not serve with the database
	// down.
	awaitAnnouncements(t, admin)

	for _, tc := range []struct {
		name   string
		key    string
		model  string
		status int
		code   string
	}{
		{"valid", valid.Secret, "echo-1", 200, ""},
		{"valid, another model", valid.Secret, "other-1", 200, ""},
		{"unknown", postgres.NewSecret(), "echo-1", 401, "invalid_api_key"},
		{"not one of ours", "sk-something-else", "echo-1", 401, "invalid_api_key"},
		{"revoked", revoked.Secret, "echo-1", 401, "invalid_api_key"},
		{"expired", expired.Secret, "echo-1", 401, "invalid_api_key"},
		{"in scope", scoped.Secret, "echo-1", 200, ""},
		{"out of scope", scoped.Secret, "other-1", 403, "model_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := chat(t, ports.http, tc.key, tc.model, false)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				if _, code := errorOf(t, body); code != tc.code {
					t.Errorf("code %q, want %q", code, tc.code)
				}
			}
		})
	}

	// The database goes down: the cached key keeps working, a key never
	// seen gets 503 (never access), and both recover with the database.
	proxy.Stop()
	if resp, body := chat(t, ports.http, valid.Secret, "echo-1", false); resp.StatusCode != 200 {
		t.Errorf("cached key with the database down: %d %s", resp.StatusCode, body)
	}
	resp, body := chat(t, ports.http, neverUsed.Secret, "echo-1", false)
	if resp.StatusCode != 503 {
		t.Fatalf("uncached key with the database down: %d %s", resp.StatusCode, body)
	}
	if typ, code := errorOf(t, body); typ != "server_error" || code != "service_unavailable" {
		t.Errorf("error %s/%s", typ, code)
	}
	if bytes.Contains(body, []byte(neverUsed.Secret)) || bytes.Contains(body, []byte("127.0.0.1")) {
		t.Errorf("the 503 leaks details: %s", body)
	}
	proxy.Start()
	if resp, body := chat(t, ports.http, neverUsed.Secret, "echo-1", false); resp.StatusCode != 200 {
		t.Errorf("after recovery: %d %s", resp.StatusCode, body)
	}
}

// A revocation through `caddy xjp keys revoke` reaches two gateway
// instances (each with its own pool, hour-long cache and listener) within
// a second: only the notification can have told them.
func TestPostgresRevocationReachesEveryInstance(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	loadSites(t,
		pgSite{port: ports.http, dsn: pgtest.WithParam(dsn, "application_name", "gateway-a")},
		pgSite{port: ports.alt, dsn: pgtest.WithParam(dsn, "application_name", "gateway-b")})
	waitListeners(t, admin, "gateway-a", "gateway-b")

	k := admin.create(postgres.KeySpec{})
	for _, port := range []int{ports.http, ports.alt} {
		if resp, body := chat(t, port, k.Secret, "echo-1", false); resp.StatusCode != 200 {
			t.Fatalf("port %d before revocation: %d %s", port, resp.StatusCode, body)
		}
	}

	cmd := cli.Command()
	cmd.SetArgs([]string{"keys", "revoke", k.Prefix, "--dsn", dsn})
	cmd.SetOut(io.Discard)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for _, port := range []int{ports.http, ports.alt} {
		for {
			resp, _ := chat(t, port, k.Secret, "echo-1", false)
			if resp.StatusCode == 401 {
				t.Logf("port %d refuses the key %v after the revocation", port, time.Since(revoked))
				break
			}
			if time.Since(revoked) > time.Second {
				t.Fatalf("port %d still accepts the revoked key after 1s (status %d)", port, resp.StatusCode)
			}
		}
	}
}

// waitListeners waits until each named gateway's listener is connected.
func waitListeners(t *testing.T, admin *keyAdmin, apps ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, app := range apps {
		for admin.count(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'listen %'`, app) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the listener of %s did not connect", app)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestPostgresRateLimit(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	// One request per minute, bursts of two: the third request in a row
	// is refused whatever the machine's speed.
	site := pgSite{port: ports.http, dsn: dsn, extra: "rate_limit {\n default_rpm 1\n burst 2\n}"}
	loadSites(t, site)
	k := admin.create(postgres.KeySpec{})
	own := admin.create(postgres.KeySpec{RPM: 3})

	for i, remaining := range []string{"1", "0"} {
		resp, body := chat(t, ports.http, k.Secret, "echo-1", false)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		h := resp.Header
		if h.Get("X-Ratelimit-Limit-Requests") != "1" || h.Get("X-Ratelimit-Remaining-Requests") != remaining ||
			h.Get("X-Ratelimit-Reset-Requests") == "" {
			t.Errorf("request %d headers: limit %q remaining %q reset %q", i, h.Get("X-Ratelimit-Limit-Requests"),
				h.Get("X-Ratelimit-Remaining-Requests"), h.Get("X-Ratelimit-Reset-Requests"))
		}
	}

	// The buckets survive a reload.
	loadSites(t, site)

	client := openai.NewClient(option.WithBaseURL(gatewayURL(ports.http)+"/v1"), option.WithAPIKey(k.Secret), option.WithMaxRetries(0))
	var httpResp *http.Response
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "echo-1", Messages: userMessage("hi"),
	}, option.WithResponseInto(&httpResp))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" || apiErr.Type != "requests" {
		t.Fatalf("third request: %v", err)
	}
	h := apiErr.Response.Header
	retry, _ := strconv.Atoi(h.Get("Retry-After"))
	if retry < 1 || retry > 60 || h.Get("X-Ratelimit-Remaining-Requests") != "0" || h.Get("X-Ratelimit-Limit-Requests") != "1" {
		t.Errorf("429 headers: Retry-After %q remaining %q limit %q", h.Get("Retry-After"),
			h.Get("X-Ratelimit-Remaining-Requests"), h.Get("X-Ratelimit-Limit-Requests"))
	}

	// A key's own limit overrides the default.
	resp, _ := chat(t, ports.http, own.Secret, "echo-1", false)
	if resp.StatusCode != 200 || resp.Header.Get("X-Ratelimit-Limit-Requests") != "3" {
		t.Errorf("key with its own limit: %d, limit %q", resp.StatusCode, resp.Header.Get("X-Ratelimit-Limit-Requests"))
	}

	// Refused requests are logged too.
	admin.waitRows(4)
	if n := admin.count("SELECT count(*) FROM usage_logs WHERE status = 429 AND key_id = $1::text::uuid", k.ID); n != 1 {
		t.Errorf("%d usage rows with status 429, want 1", n)
	}
}

func TestPostgresDailyQuota(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	loadSites(t, pgSite{port: ports.http, dsn: dsn})
	k := admin.create(postgres.KeySpec{QuotaDaily: 30})

	client := openai.NewClient(option.WithBaseURL(gatewayURL(ports.http)+"/v1"), option.WithAPIKey(k.Secret), option.WithMaxRetries(0))
	var used, admitted int64
	for i := 0; ; i++ {
		resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "echo-1", Messages: userMessage("Hello there, gateway"),
		})
		if err != nil {
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type != "insufficient_quota" || apiErr.Code != "insufficient_quota" {
				t.Fatalf("request %d: %v", i, err)
			}
			if apiErr.Response.Header.Get("X-Should-Retry") != "false" {
				t.Error("an exhausted quota does not tell the SDK to stop retrying")
			}
			if used < 30 {
				t.Fatalf("refused after %d tokens, under the quota of 30", used)
			}
			break
		}
		if used >= 30 {
			t.Fatalf("request %d admitted with %d tokens used of 30", i, used)
		}
		used += resp.Usage.TotalTokens
		admitted++
	}
	admin.waitRows(admitted + 1)
	// The counter in the database, shared by every instance, holds what
	// was charged.
	if n := admin.count("SELECT tokens FROM key_daily_tokens WHERE key_id = $1::text::uuid", k.ID); n != used {
		t.Errorf("key_daily_tokens = %d, want %d", n, used)
	}
}

// Usage rows carry the tokens the client saw, for whole and streamed
// answers, and a broken stream is charged for what it produced.
func TestPostgresUsageRows(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	loadSites(t, pgSite{port: ports.http, dsn: dsn})
	k := admin.create(postgres.KeySpec{Tenant: "tenant-u"})

	client := openai.NewClient(option.WithBaseURL(gatewayURL(ports.http)+"/v1"), option.WithAPIKey(k.Secret), option.WithMaxRetries(0))
	var whole *http.Response
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "echo-1", Messages: userMessage("Count these words, gateway"),
	}, option.WithResponseInto(&whole))
	if err != nil {
		t.Fatal(err)
	}

	var streamed *http.Response
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "echo-1", Messages: userMessage("A streamed answer, word by word"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}, option.WithResponseInto(&streamed))
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}

	fake.reset(t, serveSSE(fixture(t, "openrouter_stream_midstream_error.sse")))
	broken := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-test", Messages: userMessage("hi"),
	})
	for broken.Next() {
	}
	if broken.Err() == nil {
		t.Fatal("the broken stream ended without an error")
	}

	admin.waitRows(3)
	type row struct {
		tenant, model, provider, upstream, dialect string
		status, prompt, completion, attempts       int
		ttft                                       *int
	}
	read := func(requestID string) row {
		t.Helper()
		var r row
		err := admin.conn.QueryRow(context.Background(), `SELECT tenant_id, model, provider, upstream_model, dialect,
			status, prompt_tokens, completion_tokens, attempts, ttft_ms FROM usage_logs
			WHERE request_id = $1 AND key_id = $2::text::uuid`, requestID, k.ID).
			Scan(&r.tenant, &r.model, &r.provider, &r.upstream, &r.dialect, &r.status, &r.prompt, &r.completion, &r.attempts, &r.ttft)
		if err != nil {
			t.Fatalf("usage row of request %s: %v", requestID, err)
		}
		return r
	}
	w := read(whole.Header.Get("X-Request-Id"))
	if w.tenant != "tenant-u" || w.model != "echo-1" || w.provider != "echo" || w.upstream != "echo-1" || w.dialect != "openai" ||
		w.status != 200 || w.attempts != 1 || w.ttft != nil ||
		w.prompt != int(resp.Usage.PromptTokens) || w.completion != int(resp.Usage.CompletionTokens) {
		t.Errorf("non-stream row %+v, response usage %+v", w, resp.Usage)
	}
	s := read(streamed.Header.Get("X-Request-Id"))
	if s.status != 200 || s.ttft == nil || s.prompt != int(acc.Usage.PromptTokens) || s.completion != int(acc.Usage.CompletionTokens) ||
		s.completion == 0 {
		t.Errorf("stream row %+v, stream usage %+v", s, acc.Usage)
	}

	var b row
	err = admin.conn.QueryRow(context.Background(), `SELECT status, prompt_tokens, completion_tokens FROM usage_logs
		WHERE model = 'gpt-test'`).Scan(&b.status, &b.prompt, &b.completion)
	if err != nil {
		t.Fatal(err)
	}
	// "Here is the first part": 22 bytes, 6 tokens; the prompt "hi" is
	// estimated at 5.
	if b.status != 502 || b.completion != 6 || b.prompt != 5 {
		t.Errorf("broken stream row %+v", b)
	}
	total := int64(w.prompt + w.completion + s.prompt + s.completion + b.prompt + b.completion)
	if n := admin.count("SELECT tokens FROM key_daily_tokens WHERE key_id = $1::text::uuid", k.ID); n != total {
		t.Errorf("daily tokens %d, want %d", n, total)
	}
}

// A reload that replaces the database while streams are running loses no
// usage row: the old ledger drains once its last request has ended.
// (flush_interval 1h: only the drain can write the rows.)
func TestPostgresNoRowLostOnReloadUnderLoad(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	site := pgSite{port: ports.http, dsn: pgtest.WithParam(dsn, "application_name", "before-reload"), echo: "chunk_delay 5ms"}
	loadCaddyfile(t, strings.Replace(site.String(), "flush_interval 20ms", "flush_interval 1h", 1))
	k := admin.create(postgres.KeySpec{})

	const clients = 40
	var started, done sync.WaitGroup
	started.Add(clients)
	errs := make(chan error, clients)
	for i := range clients {
		done.Go(func() {
			errs <- streamSlowly(k.Secret, i, &started)
		})
	}
	started.Wait() // every request is admitted and streaming
	after := pgSite{port: ports.http, dsn: pgtest.WithParam(dsn, "application_name", "after-reload")}
	loadCaddyfile(t, strings.Replace(after.String(), "flush_interval 20ms", "flush_interval 1h", 1))
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	admin.waitRows(clients)
	if n := admin.count("SELECT count(*) FROM usage_logs WHERE status = 200 AND completion_tokens > 0"); n != clients {
		t.Errorf("%d complete rows, want %d", n, clients)
	}
}

// streamSlowly streams a long echo from the test's Caddy.
func streamSlowly(key string, i int, started *sync.WaitGroup) error {
	return streamSlowlyTo(ports.http, key, i, started)
}

// streamSlowlyTo streams a long echo, marks started when the first chunk
// arrives, and fails unless the stream completes with [DONE].
func streamSlowlyTo(port int, key string, i int, started *sync.WaitGroup) error {
	words := strings.Repeat("word ", 40)
	body := fmt.Sprintf(`{"model":"echo-1","stream":true,"messages":[{"role":"user","content":"%d %s"}]}`, i, words)
	req, _ := http.NewRequest(http.MethodPost, gatewayURL(port)+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		started.Done()
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	first, last := true, ""
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "data: ") {
			continue
		}
		if first {
			first = false
			started.Done()
		}
		last = sc.Text()
	}
	if first {
		started.Done()
		return fmt.Errorf("request %d: status %d, no event", i, resp.StatusCode)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if last != "data: [DONE]" {
		return fmt.Errorf("request %d: the stream ended with %q", i, last)
	}
	return nil
}
