package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// testKey is the gateway's upstream key in these tests; it must never show
// up in an error.
const testKey = "sk-or-v1-TESTSECRET0123456789abcdef"

func fixture(t *testing.T, name string) []byte { return fixtures.Read(t, name) }

// recorded is one request the fake upstream received.
type recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// upstream is a fake provider that serves a canned answer byte for byte and
// records every request.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

// reply is what the fake upstream answers.
type reply struct {
	status      int
	contentType string
	header      map[string]string
	body        []byte
}

func sseReply(body []byte) reply {
	return reply{status: http.StatusOK, contentType: "text/event-stream", body: body}
}

func jsonReply(status int, body []byte) reply {
	return reply{status: status, contentType: "application/json", body: body}
}

// newUpstream serves rep for every request, or, when rep is nil, streams
// or JSON by the request's "stream" member (stream and plain).
func newUpstream(t *testing.T, answer func(r *http.Request, body []byte) reply) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
		rep := answer(r, body)
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		if rep.contentType != "" {
			w.Header().Set("Content-Type", rep.contentType)
		}
		w.WriteHeader(rep.status)
		_, _ = w.Write(rep.body)
	}))
	t.Cleanup(u.Close)
	return u
}

func serveFixed(t *testing.T, rep reply) *upstream {
	return newUpstream(t, func(*http.Request, []byte) reply { return rep })
}

func (u *upstream) last(t *testing.T) recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func newOpenAI(t testing.TB, baseURL string, mod func(*OpenAI)) *OpenAI {
	t.Helper()
	p := &OpenAI{}
	p.BaseURL, p.APIKey = baseURL, testKey
	if mod != nil {
		mod(p)
	}
	if err := p.Provision(caddy.Context{}); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	t.Cleanup(func() { _ = p.Cleanup() })
	return p
}

func newOpenRouter(t *testing.T, baseURL string, mod func(*OpenAI)) *OpenRouter {
	t.Helper()
	p := &OpenRouter{}
	p.BaseURL, p.APIKey = baseURL, testKey
	if mod != nil {
		mod(&p.OpenAI)
	}
	if err := p.Provision(caddy.Context{}); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	t.Cleanup(func() { _ = p.Cleanup() })
	return p
}

// providers returns both provider types, pointed at base.
func providers(t *testing.T, base string) map[string]connectors.Connector {
	return map[string]connectors.Connector{
		"openai":     newOpenAI(t, base, nil),
		"openrouter": newOpenRouter(t, base, nil),
	}
}

func simpleRequest() *unified.Request {
	return &unified.Request{
		Model:    "test-model",
		Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("Write a haiku.")}}},
	}
}

// jsonEqual compares two JSON texts semantically.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	gb, _ := json.MarshalIndent(g, "", "  ")
	wb, _ := json.MarshalIndent(w, "", "  ")
	if !bytes.Equal(gb, wb) {
		t.Fatalf("body =\n%s\nwant\n%s", gb, wb)
	}
}

func decodeBody(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, b)
	}
	return m
}

func asUnified(t *testing.T, err error) *unified.Error {
	t.Helper()
	var ue *unified.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %T %v, want *unified.Error", err, err)
	}
	return ue
}
