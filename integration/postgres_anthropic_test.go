package integration

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// The postgres key store as Anthropic clients meet it: every refusal
// parses as the SDK's error, with the status and error type the Messages
// API uses, whichever header carries the key.

// anthropicCredential is one way an Anthropic client presents its key.
type anthropicCredential struct {
	name string
	// header is where the key must travel.
	header string
	opts   func(key string) []option.RequestOption
}

// anthropicCredentials: x-api-key, what Claude Code sends for
// ANTHROPIC_API_KEY and the Messages API documents (anthropic-sdk-go
// v2.15's WithAPIKey sends a bearer token, so the header is set by hand,
// as the SDK documents), and a bearer token, what Claude Code sends for
// ANTHROPIC_AUTH_TOKEN.
var anthropicCredentials = []anthropicCredential{
	{"x-api-key", "X-Api-Key", func(key string) []option.RequestOption {
		return []option.RequestOption{option.WithHeader("X-Api-Key", key), option.WithHeaderDel("Authorization")}
	}},
	{"bearer", "Authorization", func(key string) []option.RequestOption {
		return []option.RequestOption{option.WithAuthToken(key)}
	}},
}

// sentRequests records the headers of every attempt an SDK client makes.
type sentRequests struct {
	mu      sync.Mutex
	headers []http.Header
}

func (s *sentRequests) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	s.mu.Lock()
	s.headers = append(s.headers, req.Header.Clone())
	s.mu.Unlock()
	return next(req)
}

func (s *sentRequests) reset() {
	s.mu.Lock()
	s.headers = nil
	s.mu.Unlock()
}

func (s *sentRequests) attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.headers)
}

// checkCarried fails unless every attempt carried key in the
// credential's header, and only there.
func (s *sentRequests) checkCarried(t *testing.T, cred anthropicCredential, key string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	want, other := key, "Authorization"
	if cred.header == "Authorization" {
		want, other = "Bearer "+key, "X-Api-Key"
	}
	for _, h := range s.headers {
		if h.Get(cred.header) != want || h.Get(other) != "" {
			t.Errorf("the SDK sent %s %q and %s %q", cred.header, h.Get(cred.header), other, h.Get(other))
		}
	}
}

// pgAnthropicClient is an Anthropic SDK client of the gateway on port that
// sends key as cred says and never retries unless opts say so.
func pgAnthropicClient(port int, cred anthropicCredential, key string, sent *sentRequests, opts ...option.RequestOption) anthropic.Client {
	all := []option.RequestOption{option.WithBaseURL(gatewayURL(port)), option.WithMaxRetries(0), option.WithMiddleware(sent.middleware)}
	all = append(all, cred.opts(key)...)
	return anthropic.NewClient(append(all, opts...)...)
}

func helloMessage(model string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 64, Messages: userText("Hello there, gateway")}
}

// wantAnthropicError fails unless err is the SDK's error with status and
// type, and a request id.
func wantAnthropicError(t *testing.T, err error, status int, typ anthropic.ErrorType) *anthropic.Error {
	t.Helper()
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want an anthropic.Error %d %s", err, status, typ)
	}
	if apiErr.StatusCode != status || apiErr.Type() != typ {
		t.Fatalf("error %d %s (%s), want %d %s", apiErr.StatusCode, apiErr.Type(), apiErr.RawJSON(), status, typ)
	}
	if apiErr.RequestID == "" {
		t.Error("the error has no request id")
	}
	return apiErr
}

func TestPostgresAuthMatrixAnthropic(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	proxy := pgtest.NewProxy(t, pgtest.Host(t, dsn))
	loadSites(t, pgSite{port: ports.http, dsn: pgtest.WithHost(t, dsn, proxy.Addr())})

	valid := admin.create(postgres.KeySpec{})
	scoped := admin.create(postgres.KeySpec{Models: []string{"echo-*"}})
	revoked := admin.create(postgres.KeySpec{})
	disabled := admin.create(postgres.KeySpec{})
	expired := admin.create(postgres.KeySpec{ExpiresAt: time.Now().Add(time.Hour)})
	if _, err := postgres.RevokeKey(context.Background(), admin.conn, postgres.Hasher{}, revoked.ID); err != nil {
		t.Fatal(err)
	}
	admin.exec("UPDATE api_keys SET enabled = false WHERE id = $1::text::uuid", disabled.ID)
	admin.exec("UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1::text::uuid", expired.ID)
	awaitAnnouncements(t, admin) // lest they evict a key cached below

	sent := new(sentRequests)
	for _, cred := range anthropicCredentials {
		for _, tc := range []struct {
			name   string
			key    string
			model  string
			status int
			typ    anthropic.ErrorType
			msg    string
		}{
			{"valid", valid.Secret, "echo-1", 200, "", ""},
			{"valid, another model", valid.Secret, "other-1", 200, "", ""},
			{"unknown", postgres.NewSecret(), "echo-1", 401, "authentication_error", "invalid API key"},
			{"not one of ours", "sk-ant-api03-not-a-gateway-key", "echo-1", 401, "authentication_error", "invalid API key"},
			{"revoked", revoked.Secret, "echo-1", 401, "authentication_error", "invalid API key"},
			{"disabled", disabled.Secret, "echo-1", 401, "authentication_error", "invalid API key"},
			{"expired", expired.Secret, "echo-1", 401, "authentication_error", "invalid API key"},
			{"in scope", scoped.Secret, "echo-1", 200, "", ""},
			{"out of scope", scoped.Secret, "other-1", 403, "permission_error", `model: this API key may not use the model "other-1"`},
		} {
			t.Run(cred.name+"/"+tc.name, func(t *testing.T) {
				sent.reset()
				client := pgAnthropicClient(ports.http, cred, tc.key, sent)
				msg, err := client.Messages.New(t.Context(), helloMessage(tc.model))
				sent.checkCarried(t, cred, tc.key)
				if tc.status == 200 {
					if err != nil {
						t.Fatal(err)
					}
					if len(msg.Content) != 1 || msg.Content[0].Text != "Hello there, gateway" || msg.Model != anthropic.Model(tc.model) {
						t.Errorf("message = %s", messageSummary(t, msg))
					}
					return
				}
				apiErr := wantAnthropicError(t, err, tc.status, tc.typ)
				if apiErr.Message != tc.msg {
					t.Errorf("message %q, want %q", apiErr.Message, tc.msg)
				}
				if strings.Contains(apiErr.RawJSON(), tc.key) {
					t.Errorf("the error repeats the key: %s", apiErr.RawJSON())
				}

				// count_tokens is admitted like a chat.
				_, err = client.Messages.CountTokens(t.Context(), anthropic.MessageCountTokensParams{
					Model: anthropic.Model(tc.model), Messages: userText("Hello there, gateway")})
				wantAnthropicError(t, err, tc.status, tc.typ)
			})
		}
	}

	t.Run("no key", func(t *testing.T) {
		sent.reset()
		client := pgAnthropicClient(ports.http, anthropicCredentials[1], "", sent)
		_, err := client.Messages.New(t.Context(), helloMessage("echo-1"))
		if apiErr := wantAnthropicError(t, err, 401, "authentication_error"); !strings.Contains(apiErr.Message, "missing API key") {
			t.Errorf("message %q", apiErr.Message)
		}
	})

	t.Run("the model list follows the scope", func(t *testing.T) {
		client := pgAnthropicClient(ports.http, anthropicCredentials[0], scoped.Secret, new(sentRequests))
		page, err := client.Models.List(t.Context(), anthropic.ModelListParams{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "echo-1" {
			t.Errorf("models = %s", page.RawJSON())
		}
	})

	// The database goes down: the cached key keeps working and the keys
	// known to be bad stay refused; a key never seen gets 503 (the gateway
	// cannot tell, so it refuses access); all recover with the database.
	neverUsed := admin.create(postgres.KeySpec{})
	proxy.Stop()
	for _, cred := range anthropicCredentials {
		t.Run(cred.name+"/database down", func(t *testing.T) {
			client := pgAnthropicClient(ports.http, cred, valid.Secret, sent)
			if _, err := client.Messages.New(t.Context(), helloMessage("echo-1")); err != nil {
				t.Errorf("cached key: %v", err)
			}
			client = pgAnthropicClient(ports.http, cred, revoked.Secret, sent)
			_, err := client.Messages.New(t.Context(), helloMessage("echo-1"))
			wantAnthropicError(t, err, 401, "authentication_error")

			client = pgAnthropicClient(ports.http, cred, neverUsed.Secret, sent)
			_, err = client.Messages.New(t.Context(), helloMessage("echo-1"))
			apiErr := wantAnthropicError(t, err, 503, "api_error")
			if !strings.Contains(apiErr.Message, "cannot check API keys") {
				t.Errorf("message %q", apiErr.Message)
			}
			if raw := apiErr.RawJSON(); strings.Contains(raw, neverUsed.Secret) || strings.Contains(raw, "127.0.0.1") {
				t.Errorf("the 503 leaks details: %s", raw)
			}
		})
	}
	proxy.Start()
	client := pgAnthropicClient(ports.http, anthropicCredentials[0], neverUsed.Secret, sent)
	if _, err := client.Messages.New(t.Context(), helloMessage("echo-1")); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

func TestPostgresRateLimitAnthropic(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	// One request per minute, bursts of two: the third request in a row
	// is refused whatever the machine's speed.
	loadSites(t, pgSite{port: ports.http, dsn: dsn, extra: "rate_limit {\n default_rpm 1\n burst 2\n}"})
	k := admin.create(postgres.KeySpec{})
	client := pgAnthropicClient(ports.http, anthropicCredentials[0], k.Secret, new(sentRequests))

	// The second request streams: its headers come before the stream.
	for i, remaining := range []string{"1", "0"} {
		var httpResp *http.Response
		before := time.Now().Truncate(time.Second)
		var err error
		if i == 0 {
			_, err = client.Messages.New(t.Context(), helloMessage("echo-1"), option.WithResponseInto(&httpResp))
		} else {
			_, _, err = streamMessage(t, client, helloMessage("echo-1"), option.WithResponseInto(&httpResp))
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		h := httpResp.Header
		reset, err := time.Parse(time.RFC3339, h.Get("Anthropic-Ratelimit-Requests-Reset"))
		if err != nil || reset.Before(before) || reset.After(before.Add(2*time.Minute)) {
			t.Errorf("request %d: reset %q", i, h.Get("Anthropic-Ratelimit-Requests-Reset"))
		}
		if h.Get("Anthropic-Ratelimit-Requests-Limit") != "1" || h.Get("Anthropic-Ratelimit-Requests-Remaining") != remaining {
			t.Errorf("request %d: limit %q remaining %q", i, h.Get("Anthropic-Ratelimit-Requests-Limit"), h.Get("Anthropic-Ratelimit-Requests-Remaining"))
		}
		if h.Get("X-Ratelimit-Limit-Requests") != "" {
			t.Errorf("request %d: an Anthropic client got OpenAI's rate-limit headers", i)
		}
	}

	_, err := client.Messages.New(t.Context(), helloMessage("echo-1"))
	apiErr := wantAnthropicError(t, err, 429, "rate_limit_error")
	if !strings.Contains(apiErr.Message, "1 requests per minute") {
		t.Errorf("message %q", apiErr.Message)
	}
	h := apiErr.Response.Header
	retry, _ := strconv.Atoi(h.Get("Retry-After"))
	retryMs, _ := strconv.Atoi(h.Get("Retry-After-Ms"))
	if retry < 1 || retry > 60 || retryMs < 1 || retryMs > 60000 ||
		h.Get("Anthropic-Ratelimit-Requests-Remaining") != "0" || h.Get("Anthropic-Ratelimit-Requests-Limit") != "1" ||
		h.Get("Anthropic-Ratelimit-Requests-Reset") == "" {
		t.Errorf("429 headers: retry-after %q retry-after-ms %q limit %q remaining %q reset %q", h.Get("Retry-After"), h.Get("Retry-After-Ms"),
			h.Get("Anthropic-Ratelimit-Requests-Limit"), h.Get("Anthropic-Ratelimit-Requests-Remaining"), h.Get("Anthropic-Ratelimit-Requests-Reset"))
	}
	if h.Get("X-Should-Retry") != "" {
		t.Errorf("a rate limit says x-should-retry %q: the SDK should wait and retry", h.Get("X-Should-Retry"))
	}

	// A streaming request is refused before its stream starts, alike.
	_, _, err = streamMessage(t, client, helloMessage("echo-1"))
	wantAnthropicError(t, err, 429, "rate_limit_error")
}

func TestPostgresDailyQuotaAnthropic(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	loadSites(t, pgSite{port: ports.http, dsn: dsn})
	k := admin.create(postgres.KeySpec{QuotaDaily: 30})

	// Retries allowed: the SDK must not use them on an exhausted quota.
	// (Were it to retry, it would wait for the Retry-After of the quota,
	// until midnight; the deadline turns that into a failure.)
	sent := new(sentRequests)
	client := pgAnthropicClient(ports.http, anthropicCredentials[1], k.Secret, sent, option.WithMaxRetries(2))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var used, admitted int64
	for i := 0; ; i++ {
		sent.reset()
		msg, err := client.Messages.New(ctx, helloMessage("echo-1"))
		if err != nil {
			apiErr := wantAnthropicError(t, err, 429, "rate_limit_error")
			if !strings.Contains(apiErr.Message, "daily quota of 30 tokens") {
				t.Errorf("message %q", apiErr.Message)
			}
			if apiErr.Response.Header.Get("X-Should-Retry") != "false" {
				t.Error("an exhausted quota does not tell the SDK to stop retrying")
			}
			if n := sent.attempts(); n != 1 {
				t.Errorf("the SDK sent the refused request %d times", n)
			}
			if used < 30 {
				t.Fatalf("refused after %d tokens, under the quota of 30", used)
			}
			break
		}
		if used >= 30 {
			t.Fatalf("request %d admitted with %d tokens used of 30", i, used)
		}
		used += msg.Usage.InputTokens + msg.Usage.CacheCreationInputTokens + msg.Usage.CacheReadInputTokens + msg.Usage.OutputTokens
		admitted++
	}

	// A stream is refused alike.
	_, _, err := streamMessage(t, pgAnthropicClient(ports.http, anthropicCredentials[0], k.Secret, sent), helloMessage("echo-1"))
	wantAnthropicError(t, err, 429, "rate_limit_error")

	admin.waitRows(admitted + 2)
	if n := admin.count("SELECT tokens FROM key_daily_tokens WHERE key_id = $1::text::uuid", k.ID); n != used {
		t.Errorf("key_daily_tokens = %d, want %d", n, used)
	}
	if n := admin.count("SELECT count(*) FROM usage_logs WHERE dialect = 'anthropic' AND status = 429 AND key_id = $1::text::uuid", k.ID); n != 2 {
		t.Errorf("%d refused Anthropic requests logged, want 2", n)
	}
}

// An Anthropic stream is charged what the client saw, and its usage row
// says which dialect it came in.
func TestPostgresUsageRowsAnthropic(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	loadSites(t, pgSite{port: ports.http, dsn: dsn})
	k := admin.create(postgres.KeySpec{Tenant: "tenant-a"})
	client := pgAnthropicClient(ports.http, anthropicCredentials[0], k.Secret, new(sentRequests))

	var whole, streamed *http.Response
	msg, err := client.Messages.New(t.Context(), helloMessage("echo-1"), option.WithResponseInto(&whole))
	if err != nil {
		t.Fatal(err)
	}
	smsg, _, err := streamMessage(t, client, anthropic.MessageNewParams{Model: "echo-1", MaxTokens: 64,
		Messages: userText("A streamed answer, word by word")}, option.WithResponseInto(&streamed))
	if err != nil {
		t.Fatal(err)
	}
	admin.waitRows(2)
	for _, tc := range []struct {
		resp *http.Response
		msg  *anthropic.Message
	}{{whole, msg}, {streamed, smsg}} {
		var tenant, dialect string
		var status, prompt, completion int64
		err := admin.conn.QueryRow(context.Background(), `SELECT tenant_id, dialect, status, prompt_tokens, completion_tokens
			FROM usage_logs WHERE request_id = $1`, tc.resp.Header.Get("X-Request-Id")).Scan(&tenant, &dialect, &status, &prompt, &completion)
		if err != nil {
			t.Fatal(err)
		}
		if tenant != "tenant-a" || dialect != "anthropic" || status != 200 || prompt != tc.msg.Usage.InputTokens ||
			completion != tc.msg.Usage.OutputTokens || completion == 0 {
			t.Errorf("row %s/%s %d %d+%d, message usage %+v", tenant, dialect, status, prompt, completion, tc.msg.Usage)
		}
	}
}
