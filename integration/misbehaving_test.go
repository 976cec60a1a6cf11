package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Misbehaving upstreams: each answers in a way a provider should not, and
// each must end as an error in the caller's dialect, within the provider's
// timeouts, without the gateway reading (or keeping) without bound.

// misbehaviours are the fake providers' behaviours by provider name.
func misbehaviours(written *atomic.Int64) map[string]http.HandlerFunc {
	sse := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
	}
	return map[string]http.HandlerFunc{
		// Garbage: an event stream (or body) that is not JSON at all.
		"garbage": func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.Header.Get("Accept"), "event-stream") {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "\x00\x01<html>not json")
				return
			}
			sse(w)
			_, _ = io.WriteString(w, orChunk("Once")+"data: {\"choices\":[{\"delta\":\n\ndata: \xff\xfe garbage\n\n")
		},
		// Endless: valid chunks forever (or a body that never ends).
		"endless": func(w http.ResponseWriter, r *http.Request) {
			sse(w)
			for {
				if _, err := io.WriteString(w, orChunk("more ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		},
		// Huge: one event that never ends, far over the event size limit.
		"huge": func(w http.ResponseWriter, r *http.Request) {
			sse(w)
			_, _ = io.WriteString(w, `data: {"choices":[{"index":0,"delta":{"content":"`)
			chunk := bytes.Repeat([]byte("a"), 64<<10)
			for range 64 << 20 / len(chunk) { // 64 MiB
				n, err := w.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		},
		// Drip: a valid stream, one byte at a time, slower than stream_idle
		// allows for one event.
		"drip": func(w http.ResponseWriter, r *http.Request) {
			sse(w)
			for _, c := range []byte(orChunk("slow") + orChunk("er")) {
				if _, err := w.Write([]byte{c}); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		},
		// Never: accepts the request and never answers.
		"never": func(w http.ResponseWriter, r *http.Request) {
			// Read the request, or the server would not notice the
			// gateway hanging up.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		},
	}
}

func misbehavingConfig(t *testing.T, written *atomic.Int64) string {
	var providers, models strings.Builder
	// Each behaviour is served to a provider of every wire family: the
	// OpenAI one (openrouter), Anthropic's and Gemini's; the behaviours do
	// not depend on the path, and what is not a valid event of the
	// family is garbage or silence to it.
	add := func(name, baseURL string) {
		for _, typ := range []struct{ suffix, typ, key string }{
			{"", "openrouter", providerKey}, {"-ant", "anthropic", anthropicKey}, {"-gm", "gemini", hygieneGeminiKey},
		} {
			fmt.Fprintf(&providers, `
		provider %[1]s%[2]s %[3]s {
			base_url %[4]s
			api_key %[5]s
			timeouts {
				first_byte 500ms
				stream_idle 300ms
				total 1s
			}
		}`, name, typ.suffix, typ.typ, baseURL, typ.key)
			fmt.Fprintf(&models, `
		model bad-%[1]s%[2]s {
			primary %[1]s%[2]s upstream-model
		}`, name, typ.suffix)
		}
	}
	for name, h := range misbehaviours(written) {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		add(name, srv.URL+"/api/v1")
	}
	// Connection refused: a port that was just free.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	add("refused", "http://"+l.Addr().String()+"/api/v1")
	_ = l.Close()
	// TLS failure: a certificate the gateway does not trust.
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, orAnswer)
	}))
	t.Cleanup(tlsSrv.Close)
	add("untrusted", tlsSrv.URL+"/api/v1")
	return fmt.Sprintf(`
:%d {
	xjp_gateway {%s%s
		keys {
			key key-all tenant t1
		}
		retry {
			attempts 1
		}
	}
}
`, ports.http, providers.String(), models.String())
}

func TestMisbehavingUpstreams(t *testing.T) {
	var written atomic.Int64
	loadCaddyfile(t, misbehavingConfig(t, &written))
	client := &http.Client{Timeout: 20 * time.Second} // a hang guard only
	cases := []struct {
		provider string
		want     string // in the error message
	}{
		{"garbage", "provider garbage"},
		{"endless", "provider endless"},
		{"huge", "provider huge"},
		{"drip", "provider drip"},
		{"never", "provider never"},
		{"refused", "cannot reach provider refused"},
		{"untrusted", "cannot reach provider untrusted"},
	}
	for _, tc := range cases {
		for _, family := range []string{"", "-ant", "-gm"} {
			for _, dialect := range []string{"openai", "anthropic"} {
				for _, stream := range []bool{false, true} {
					provider := tc.provider + family
					t.Run(fmt.Sprintf("%s/%s/stream=%v", provider, dialect, stream), func(t *testing.T) {
						written.Store(0)
						status, body := misbehavingCall(t, client, dialect, "bad-"+provider, stream)
						checkDialectFailure(t, dialect, status, body, tc.want+family)
						if tc.provider == "huge" {
							// The gateway stopped reading soon after its limit
							// (8 MiB for a stream's event, 32 MiB for a whole
							// answer); the rest is socket buffers.
							limit := int64(32 << 20)
							if stream {
								limit = 8 << 20
							}
							if n := written.Load(); n > limit+16<<20 {
								t.Errorf("the gateway read %d MiB of one event", n>>20)
							}
						}
					})
				}
			}
		}
	}
	// The gateway still serves.
	fake.reset(t, serveJSON(200, []byte(orAnswer)))
	loadCaddyfile(t, validationConfig())
	if status, body := misbehavingCall(t, client, "openai", "gpt-test", false); status != 200 {
		t.Fatalf("a normal request afterwards: %d %s", status, body)
	}
}

func misbehavingCall(t *testing.T, client *http.Client, dialect, model string, stream bool) (int, string) {
	t.Helper()
	var req *http.Request
	var err error
	if dialect == "openai" {
		body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
		req, err = http.NewRequest("POST", gatewayURL(ports.http)+"/v1/chat/completions", strings.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", "Bearer key-all")
		}
	} else {
		body := fmt.Sprintf(`{"model":%q,"stream":%v,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, model, stream)
		req, err = http.NewRequest("POST", gatewayURL(ports.http)+"/v1/messages", strings.NewReader(body))
		if err == nil {
			req.Header.Set("X-Api-Key", "key-all")
			req.Header.Set("Anthropic-Version", "2023-06-01")
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp.StatusCode, string(b)
}

// checkDialectFailure accepts an HTTP error in the dialect's shape, or a
// stream that began and ended with the dialect's error event.
func checkDialectFailure(t *testing.T, dialect string, status int, body, want string) {
	t.Helper()
	if status >= 400 {
		if status < 500 {
			t.Errorf("status %d: a provider's failure is not the client's", status)
		}
		shape := `{"error":{`
		if dialect == "anthropic" {
			shape = `{"type":"error","error":{`
		}
		if !strings.HasPrefix(body, shape) || !strings.Contains(body, want) {
			t.Errorf("status %d body %.300s; want a %s error naming %q", status, body, dialect, want)
		}
		return
	}
	if status != 200 {
		t.Fatalf("status %d body %.300s", status, body)
	}
	marker := "data: {\"error\":{"
	if dialect == "anthropic" {
		marker = "event: error\ndata: {\"type\":\"error\",\"error\":{"
	}
	i := strings.LastIndex(body, marker)
	if i < 0 || !strings.Contains(body[i:], want) {
		t.Errorf("stream ended without a %s error naming %q: %.500s", dialect, want, tail(body, 500))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
