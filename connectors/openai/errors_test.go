package openai

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

func TestUpstreamErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       []byte
		header     map[string]string
		kind       unified.Kind
		retryable  bool
		retryAfter time.Duration
		contains   []string
		excludes   []string
	}{
		{
			name: "401 bad gateway key", status: 401, body: fixture(t, "openai_error_401.json"),
			kind:     unified.KindUpstream,
			excludes: []string{"Incorrect API key", "sk-", "Zq4d", "platform.openai.com"},
		},
		{
			name: "403", status: 403, body: []byte(`{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","param":null,"code":"unsupported_country_region_territory"}}`),
			kind: unified.KindUpstream, excludes: []string{"Country"},
		},
		{
			name: "429 rate limit", status: 429, body: fixture(t, "openai_error_429_rate_limit.json"),
			header: map[string]string{"retry-after": "3", "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "2.5s"},
			kind:   unified.KindRateLimit, retryable: true, retryAfter: 3 * time.Second,
			contains: []string{"Rate limit reached for gpt-4o"},
		},
		{
			name: "429 retry-after-ms wins", status: 429, body: fixture(t, "openai_error_429_rate_limit.json"),
			header: map[string]string{"retry-after-ms": "1500", "retry-after": "3"},
			kind:   unified.KindRateLimit, retryable: true, retryAfter: 1500 * time.Millisecond,
		},
		{
			name: "402 openrouter credits", status: 402, body: fixture(t, "openrouter_error_402.json"),
			kind:     unified.KindUpstream,
			contains: []string{"Insufficient credits"},
		},
		{
			name: "400 openrouter wrapped provider error", status: 400, body: fixture(t, "openrouter_error_400_provider.json"),
			kind:     unified.KindInvalidRequest,
			contains: []string{"messages: text content blocks must be non-empty"},
			excludes: []string{`{\"type\"`, `"type":"error"`},
		},
		{
			name: "400 context length", status: 400, body: fixture(t, "openai_error_400_context.json"),
			kind:     unified.KindInvalidRequest,
			contains: []string{"maximum context length is 128000 tokens"},
		},
		{
			name: "404 model", status: 404, body: []byte(`{"error":{"message":"The model gpt-9 does not exist","type":"invalid_request_error","param":null,"code":"model_not_found"}}`),
			kind: unified.KindNotFound, contains: []string{"gpt-9 does not exist"},
		},
		{name: "408", status: 408, body: []byte(`{"error":{"code":408,"message":"Timed out"}}`), kind: unified.KindTimeout, retryable: true},
		{name: "409", status: 409, body: []byte(`{"error":{"message":"conflict"}}`), kind: unified.KindUpstream, retryable: true},
		{name: "413", status: 413, body: []byte(`{"error":{"message":"too big"}}`), kind: unified.KindRequestTooLarge},
		{name: "422", status: 422, body: []byte(`{"error":{"message":"bad schema"}}`), kind: unified.KindInvalidRequest, contains: []string{"bad schema"}},
		{
			name: "500", status: 500, body: []byte(`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`),
			kind: unified.KindUpstream, retryable: true, contains: []string{"The server had an error"},
		},
		{
			name: "502 html from a proxy", status: 502, body: []byte("<html><body>Bad Gateway</body></html>"),
			kind: unified.KindUpstream, retryable: true, contains: []string{"Bad Gateway"}, excludes: []string{"<html>"},
		},
		{
			name: "503 overloaded", status: 503, body: []byte(`{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":"service_unavailable"}}`),
			header: map[string]string{"retry-after": "2"},
			kind:   unified.KindOverloaded, retryable: true, retryAfter: 2 * time.Second,
		},
		{name: "504", status: 504, body: []byte(`{"error":{"message":"timeout"}}`), kind: unified.KindTimeout, retryable: true},
		{name: "529", status: 529, body: fixture(t, "anthropic_error_529.json"), kind: unified.KindOverloaded, retryable: true},
		{name: "empty body", status: 500, body: nil, kind: unified.KindUpstream, retryable: true, contains: []string{"Internal Server Error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := serveFixed(t, reply{status: tt.status, contentType: "application/json", header: tt.header, body: tt.body})
			p := newOpenRouter(t, up.URL, nil)
			check := func(t *testing.T, err error) {
				t.Helper()
				ue := asUnified(t, err)
				if ue.Kind != tt.kind {
					t.Errorf("kind = %d, want %d (%v)", ue.Kind, tt.kind, ue)
				}
				if ue.Retryable != tt.retryable {
					t.Errorf("retryable = %v, want %v", ue.Retryable, tt.retryable)
				}
				if ue.RetryAfter != tt.retryAfter {
					t.Errorf("retry after = %v, want %v", ue.RetryAfter, tt.retryAfter)
				}
				if ue.UpstreamStatus != tt.status {
					t.Errorf("upstream status = %d, want %d", ue.UpstreamStatus, tt.status)
				}
				if ue.Message == "" {
					t.Error("empty message")
				}
				for _, s := range tt.contains {
					if !strings.Contains(ue.Message, s) {
						t.Errorf("message %q does not contain %q", ue.Message, s)
					}
				}
				for _, s := range append(tt.excludes, testKey) {
					if strings.Contains(ue.Error(), s) {
						t.Errorf("message %q contains %q", ue.Error(), s)
					}
				}
			}
			t.Run("Generate", func(t *testing.T) {
				resp, err := p.Generate(context.Background(), simpleRequest())
				if err == nil {
					t.Fatalf("Generate = %+v, want an error", resp)
				}
				check(t, err)
			})
			t.Run("Stream", func(t *testing.T) {
				s, err := p.Stream(context.Background(), simpleRequest())
				if err == nil {
					s.Close()
					t.Fatal("Stream succeeded, want an error")
				}
				check(t, err)
			})
		})
	}
}

// Regression: connectors.StatusError (connectors/errors.go) maps every 429 to
// KindRateLimit with Retryable=true, and upstreamError
// (connectors/openai/decode.go) never looks at error.code / error.type or at
// the x-should-retry header. OpenAI's insufficient_quota 429 (fixture
// openai_error_429_quota.json, served with x-should-retry: false) is
// therefore reported to clients as a retryable rate limit, and both the
// gateway and the client SDKs retry a request that cannot succeed
// (wire-formats §2.5 and §7.9: "out of credit → 429 insufficient_quota +
// x-should-retry:false"). Fix: in upstreamError, when status is 429 and
// error.code or error.type is "insufficient_quota" (or the response carries
// x-should-retry: false), set Kind = unified.KindQuota and Retryable =
// false.
func TestUpstreamQuotaError(t *testing.T) {
	t.Parallel()
	up := serveFixed(t, reply{
		status: 429, contentType: "application/json",
		header: map[string]string{"x-should-retry": "false"},
		body:   fixture(t, "openai_error_429_quota.json"),
	})
	for name, c := range providers(t, up.URL) {
		_, err := c.Generate(context.Background(), simpleRequest())
		ue := asUnified(t, err)
		if ue.UpstreamStatus != 429 || !strings.Contains(ue.Message, "exceeded your current quota") {
			t.Errorf("%s: err = %+v", name, ue)
		}
		if ue.Kind != unified.KindQuota || ue.Retryable {
			t.Errorf("%s: kind = %d retryable = %v, want KindQuota (%d) and not retryable", name, ue.Kind, ue.Retryable, unified.KindQuota)
		}
	}
}

// Regression: connectors.StatusError (connectors/errors.go, the final "default"
// case) turns every status it does not list into KindInvalidRequest (400),
// including redirects, which the connector's client deliberately does not
// follow (connectors/common.go CheckRedirect). A misconfigured base_url
// (http:// instead of https://, a moved endpoint) then tells the client its
// own request was invalid. Fix: in StatusError use KindInvalidRequest only
// for 4xx statuses and KindUpstream for anything else that is not 200
// (1xx/2xx/3xx), e.g. `case status >= 400 && status < 500:
// e.Kind = unified.KindInvalidRequest` and `default: e.Kind =
// unified.KindUpstream`.
func TestUpstreamRedirectIsNotInvalidRequest(t *testing.T) {
	t.Parallel()
	up := serveFixed(t, reply{status: http.StatusMovedPermanently, header: map[string]string{"Location": "https://elsewhere.example/v1/chat/completions"}})
	_, err := newOpenAI(t, up.URL, nil).Generate(context.Background(), simpleRequest())
	ue := asUnified(t, err)
	if ue.Kind != unified.KindUpstream {
		t.Fatalf("kind = %d (status %d), want KindUpstream: a redirect is the gateway's configuration problem, not the client's", ue.Kind, ue.Status())
	}
}

// The gateway's key must never reach an error message, even when the
// upstream echoes it back.
func TestKeyNeverInErrors(t *testing.T) {
	t.Parallel()
	echo := `{"error":{"message":"key ` + testKey + ` is bad","type":"invalid_request_error","param":null,"code":"x","metadata":{"raw":"{\"error\":{\"message\":\"upstream saw ` + testKey + `\"}}","provider_name":"X"}}}`
	tests := []struct {
		name   string
		rep    reply
		stream bool
	}{
		{"400", jsonReply(400, []byte(echo)), false},
		{"401", jsonReply(401, []byte(echo)), false},
		{"402", jsonReply(402, []byte(echo)), false},
		{"404", jsonReply(404, []byte(echo)), false},
		{"429", jsonReply(429, []byte(echo)), true},
		{"500", jsonReply(500, []byte(echo)), true},
		{"503", jsonReply(503, []byte(echo)), false},
		{"200 body error", jsonReply(200, []byte(echo)), false},
		{"in-band stream error", sseReply([]byte(firstChunk + "data: " + echo + "\n\n")), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := serveFixed(t, tt.rep)
			for name, c := range providers(t, up.URL) {
				var err error
				if tt.stream {
					var s unified.Stream
					if s, err = c.Stream(context.Background(), simpleRequest()); err == nil {
						_, err = unified.Collect(s)
					}
				} else {
					_, err = c.Generate(context.Background(), simpleRequest())
				}
				if err == nil {
					t.Fatalf("%s: no error", name)
				}
				if msg := err.Error(); strings.Contains(msg, testKey) || strings.Contains(msg, "TESTSECRET") {
					t.Errorf("%s: error leaks the key: %q", name, msg)
				}
			}
		})
	}
}

var _ connectors.Connector = (*OpenRouter)(nil)
