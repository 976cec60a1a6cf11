package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// The fake Anthropic and Clewdr upstreams. Both are handlers installed on
// the shared fake server (fake.reset); the gateway reaches them under
// /anthropic and /clewdr.

const (
	anthropicKey   = "sk-ant-test-secret-provider-key"
	clewdrPassword = "clewdr-test-password"
)

// anthropicConfig serves Anthropic, Clewdr (code and web endpoints),
// OpenRouter and echo models, on a plain site and on a site with a short
// stream keep-alive.
func anthropicConfig() string {
	gw := func(extra string) string {
		return fmt.Sprintf(`xjp_gateway {
		provider ant anthropic {
			base_url %[1]s/anthropic
			api_key %[2]s
		}
		provider cw clewdr {
			base_url %[1]s/clewdr
			api_key %[3]s
		}
		provider cwweb clewdr {
			base_url %[1]s/clewdr
			api_key %[3]s
			endpoint web
		}
		provider or openrouter {
			base_url %[1]s/api/v1
			api_key %[4]s
		}
		provider echo echo
		model claude-test {
			primary ant claude-sonnet-4-5-20250929
		}
		model clewdr-test {
			primary cw claude-sonnet-4-5
		}
		model clewdr-web {
			primary cwweb claude-sonnet-4-5
		}
		model clewdr-fallback {
			primary cw claude-sonnet-4-5
			fallback echo echo-1
		}
		model gpt-test {
			primary or openai/gpt-4o
		}
		model echo-1 {
			primary echo
		}
		keys {
			key key-all tenant t1
			key key-echo-only tenant t2 models echo-*
		}
		%[5]s
	}`, fake.srv.URL, anthropicKey, clewdrPassword, providerKey, extra)
	}
	return fmt.Sprintf(`
:%d {
	%s
}

:%d {
	%s
}
`, ports.http, gw(""), ports.alt, gw("stream_keepalive 5ms"))
}

func anthropicClient(t *testing.T, key string, opts ...option.RequestOption) anthropic.Client {
	t.Helper()
	loadCaddyfile(t, anthropicConfig())
	return newAnthropicClient(ports.http, key, opts...)
}

func newAnthropicClient(port int, key string, opts ...option.RequestOption) anthropic.Client {
	return anthropic.NewClient(append([]option.RequestOption{
		option.WithBaseURL(gatewayURL(port)),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	}, opts...)...)
}

// sseEvent is one event of a Messages stream.
type sseEvent struct{ name, data string }

// messagesSSE frames events exactly as the Messages API does (event: and
// data: lines), with a ping after message_start. Clewdr's axum server
// adds ":" keep-alive comments, which comments adds between events.
func messagesSSE(comments bool, events ...sseEvent) []byte {
	var b strings.Builder
	for i, ev := range events {
		fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", ev.name, ev.data)
		if i == 0 {
			b.WriteString("event: ping\ndata: {\"type\": \"ping\"}\n\n")
		}
		if comments {
			b.WriteString(":\n\n")
		}
	}
	return []byte(b.String())
}

// splitSSE parses a Messages stream fixture into its events.
func splitSSE(body []byte) []sseEvent {
	var out []sseEvent
	for _, raw := range strings.Split(strings.TrimSpace(string(body)), "\n\n") {
		name, data, _ := strings.Cut(raw, "\ndata: ")
		out = append(out, sseEvent{strings.TrimPrefix(name, "event: "), data})
	}
	return out
}

// fakeAnthropic is the Anthropic API: it refuses calls without the
// provider key or anthropic-version as the API does, then answers with
// respond.
func fakeAnthropic(respond http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != anthropicKey {
			serveJSON(401, []byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"},"request_id":"req_011CVqBjBeZ9tE5sM7yQ4aCw"}`))(w, r)
			return
		}
		if r.Header.Get("Anthropic-Version") == "" {
			serveJSON(400, []byte(`{"type":"error","error":{"type":"invalid_request_error","message":"anthropic-version: header is required"}}`))(w, r)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/anthropic/v1/messages") {
			serveJSON(404, []byte(`{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`))(w, r)
			return
		}
		w.Header().Set("Request-Id", "req_011CVupstream")
		respond(w, r)
	}
}

// fakeClewdr is Clewdr: its password in x-api-key or as a bearer token,
// its own error shape, and its two Messages endpoints.
func fakeClewdr(t *testing.T, respond http.HandlerFunc) http.HandlerFunc {
	unauthorized := serveJSON(401, fixture(t, "clewdr_error_401.json"))
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != clewdrPassword && r.Header.Get("Authorization") != "Bearer "+clewdrPassword {
			unauthorized(w, r)
			return
		}
		switch r.URL.Path {
		case "/clewdr/code/v1/messages", "/clewdr/v1/messages", "/clewdr/code/v1/messages/count_tokens":
			respond(w, r)
		default:
			serveJSON(404, []byte(`{"error":{"message":"Not Found","type":"not_found","code":404}}`))(w, r)
		}
	}
}

// serveSSEEvents answers with a Messages event stream.
func serveSSEEvents(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
}

// messageSummary is what a test compares of a message: everything a
// client reads.
func messageSummary(t *testing.T, m *anthropic.Message) string {
	t.Helper()
	type block struct {
		Type      string          `json:"type"`
		Text      string          `json:"text,omitempty"`
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name,omitempty"`
		Input     json.RawMessage `json:"input,omitempty"`
		Thinking  string          `json:"thinking,omitempty"`
		Signature string          `json:"signature,omitempty"`
		Data      string          `json:"data,omitempty"`
	}
	s := struct {
		ID, Model, Role, StopReason, StopSequence string
		Content                                   []block
		Usage                                     [4]int64
	}{ID: m.ID, Model: string(m.Model), Role: string(m.Role), StopReason: string(m.StopReason), StopSequence: m.StopSequence,
		Usage: [4]int64{m.Usage.InputTokens, m.Usage.CacheCreationInputTokens, m.Usage.CacheReadInputTokens, m.Usage.OutputTokens}}
	for _, c := range m.Content {
		b := block{Type: c.Type, Text: c.Text, ID: c.ID, Name: c.Name, Thinking: c.Thinking, Signature: c.Signature, Data: c.Data}
		if len(c.Input) > 0 {
			var v any
			if err := json.Unmarshal(c.Input, &v); err != nil {
				t.Fatalf("tool input %s is not JSON: %v", c.Input, err)
			}
			b.Input, _ = json.Marshal(v)
		}
		s.Content = append(s.Content, b)
	}
	out, _ := json.MarshalIndent(s, "", "  ")
	return string(out)
}

// streamMessage runs a streaming call and accumulates it as the SDK
// documents, failing on any event the accumulator refuses.
func streamMessage(t *testing.T, client anthropic.Client, params anthropic.MessageNewParams, opts ...option.RequestOption) (*anthropic.Message, []string, error) {
	t.Helper()
	stream := client.Messages.NewStreaming(t.Context(), params, opts...)
	defer stream.Close()
	var (
		msg   anthropic.Message
		types []string
	)
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate refused %s: %v", ev.RawJSON(), err)
		}
	}
	return &msg, types, stream.Err()
}
