package gemini

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

	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// testKey is the gateway's Google API key in these tests; it must never
// show up in an error.
const testKey = "AIzaSyTESTSECRET0123456789abcdefghijkl"

func fixture(t *testing.T, name string) []byte { return fixtures.Read(t, name) }

// recorded is one request the fake upstream received.
type recorded struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// upstream is a fake Google endpoint that serves a canned answer and
// records every request.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type reply struct {
	status      int
	contentType string
	body        []byte
	header      map[string]string
}

func sseReply(body []byte) reply {
	return reply{status: http.StatusOK, contentType: "text/event-stream", body: body}
}

func jsonReply(status int, body []byte) reply {
	return reply{status: status, contentType: "application/json", body: body}
}

func newUpstream(t *testing.T, rep reply) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		u.mu.Unlock()
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

func (u *upstream) last(t *testing.T) recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// newExpress is a vertex provider in express mode pointed at base.
func newExpress(t testing.TB, base string, mod func(*Vertex)) *Vertex {
	t.Helper()
	v := &Vertex{}
	v.BaseURL, v.APIKey = base, testKey
	if mod != nil {
		mod(v)
	}
	if err := v.Provision(caddy.Context{}); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	t.Cleanup(func() { _ = v.Cleanup() })
	return v
}

// testEngine is an engine for encoding and decoding tests.
func testEngine(t testing.TB) *engine {
	return &newExpress(t, "http://127.0.0.1:1", nil).engine
}

func userText(s string) unified.Message {
	return unified.Message{Role: unified.RoleUser, Content: []unified.Part{unified.Text(s)}}
}

// encode returns the generateContent body for req, as generic JSON.
func encode(t *testing.T, e *engine, req *unified.Request) map[string]any {
	t.Helper()
	b, err := e.encodeRequest(req)
	if err != nil {
		t.Fatalf("encodeRequest: %v", err)
	}
	return decodeJSON(t, b)
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

// jsonEqual compares JSON texts semantically, showing both on failure.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v\n%s", err, want)
	}
	gb, _ := json.MarshalIndent(g, "", "  ")
	wb, _ := json.MarshalIndent(w, "", "  ")
	if !bytes.Equal(gb, wb) {
		t.Fatalf("got\n%s\nwant\n%s", gb, wb)
	}
}

func asUnified(t *testing.T, err error) *unified.Error {
	t.Helper()
	var ue *unified.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %T %v, want *unified.Error", err, err)
	}
	return ue
}

// at walks decoded JSON: keys for objects, ints for arrays.
func at(t *testing.T, v any, steps ...any) any {
	t.Helper()
	for _, s := range steps {
		switch k := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not an object", s, v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at %v: %v is not an array that long", s, v)
			}
			v = a[k]
		}
	}
	return v
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
