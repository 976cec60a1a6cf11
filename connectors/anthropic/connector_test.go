package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

const secret = "sk-ant-test-secret"

// fakeServer answers every call with status, headers and body, and keeps
// the last request.
type fakeServer struct {
	*httptest.Server
	mu     sync.Mutex
	path   string
	header http.Header
	body   string
}

func newFake(t *testing.T, status int, body []byte, headers ...string) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.path, f.header, f.body = r.URL.Path, r.Header.Clone(), string(b)
		f.mu.Unlock()
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(f.Close)
	return f
}

func provisioned(t testing.TB, url string) *Anthropic {
	t.Helper()
	p := &Anthropic{Common: connectors.Common{BaseURL: url, APIKey: secret, Headers: map[string]string{"Anthropic-Beta": "configured-2025"}}}
	if err := p.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	return p
}

func clewdr(t *testing.T, url, endpoint string) *Clewdr {
	t.Helper()
	c := &Clewdr{Anthropic: Anthropic{Common: connectors.Common{BaseURL: url, APIKey: "clewdr-password"}}, Endpoint: endpoint}
	if err := c.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func simpleRequest() *unified.Request {
	return &unified.Request{Model: "claude-sonnet-4-5", Messages: []unified.Message{user("Write a haiku")}}
}

// drain reads a stream to its end.
func drain(t *testing.T, s unified.Stream) ([]unified.Event, error) {
	t.Helper()
	defer s.Close()
	var evs []unified.Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		ev.Native = append([]byte(nil), ev.Native...) // valid only until the next Next
		evs = append(evs, ev)
	}
}

func TestStreamText(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, fixtures.Read(t, "anthropic_stream_text.sse"), "Content-Type", "text/event-stream")
	p := provisioned(t, f.URL)
	req := simpleRequest()
	req.AnthropicBeta = "interleaved-thinking-2025-05-14"
	s, err := p.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := drain(t, s)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := unified.Collect(&unified.SliceStream{Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	want := &unified.Response{ID: "msg_01Xb7Gq2LmN9pRt4VwZa3Ks8", Model: "claude-sonnet-4-5-20250929",
		Content: []unified.Part{unified.Text("Frost on the window,\nthe kettle hums a small song.")},
		Finish:  unified.FinishStop, Usage: unified.Usage{InputTokens: 18, OutputTokens: 17}}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("collected\n%+v\nwant\n%+v", resp, want)
	}
	for _, ev := range evs {
		if ev.Type == unified.EventNative {
			t.Fatalf("native event for a translated request: %+v", ev)
		}
	}
	if f.path != "/v1/messages" {
		t.Errorf("path = %q", f.path)
	}
	h := f.header
	if h.Get("X-Api-Key") != secret || h.Get("Anthropic-Version") != "2023-06-01" || h.Get("Authorization") != "" {
		t.Errorf("auth headers = %v", h)
	}
	if got := h.Get("Anthropic-Beta"); got != "configured-2025,interleaved-thinking-2025-05-14" {
		t.Errorf("anthropic-beta = %q", got)
	}
	if !strings.Contains(f.body, `"stream":true`) {
		t.Errorf("body = %s", f.body)
	}
}

func TestStreamToolUse(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, fixtures.Read(t, "anthropic_stream_tool_use.sse"))
	s, err := provisioned(t, f.URL).Stream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := drain(t, s)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := unified.Collect(&unified.SliceStream{Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	// The tool is block 1 upstream but the first tool call here.
	wantCalls := []unified.ToolCall{{ID: "toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp", Name: "get_weather", Arguments: `{"city": "Paris", "unit": "celsius"}`}}
	if !reflect.DeepEqual(resp.ToolCalls, wantCalls) {
		t.Errorf("tool calls = %+v", resp.ToolCalls)
	}
	if resp.Text() != "I'll check the current weather in Paris." || resp.Finish != unified.FinishToolCalls {
		t.Errorf("text %q finish %q", resp.Text(), resp.Finish)
	}
	if resp.Usage != (unified.Usage{InputTokens: 412, OutputTokens: 58}) {
		t.Errorf("usage = %+v", resp.Usage)
	}
}

func TestStreamMidStreamError(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, fixtures.Read(t, "anthropic_stream_error.sse"))
	s, err := provisioned(t, f.URL).Stream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := drain(t, s)
	e := unified.AsError(err)
	if e == nil || e.Kind != unified.KindOverloaded || e.Message != "Overloaded" || !e.Retryable {
		t.Fatalf("err = %+v", e)
	}
	if len(evs) < 2 || evs[len(evs)-1].Text != "The three largest" {
		t.Errorf("the text before the error was lost: %+v", evs)
	}
}

func TestStreamEndingWithoutMessageStopFails(t *testing.T) {
	t.Parallel()
	full := string(fixtures.Read(t, "anthropic_stream_text.sse"))
	cut := full[:strings.Index(full, "event: message_delta")]
	f := newFake(t, 200, []byte(cut))
	s, err := provisioned(t, f.URL).Stream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drain(t, s); unified.AsError(err) == nil || unified.AsError(err).Kind != unified.KindUpstream {
		t.Fatalf("err = %v, want an upstream error", err)
	}
}

// TestStreamVariants covers what other Messages servers (and newer API
// features) send: thinking with signatures, redacted thinking, server tool
// blocks, a tool input given whole at its start, usage updated in
// message_delta, events without event: lines, and unknown events.
func TestStreamVariants(t *testing.T) {
	t.Parallel()
	body := `event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,"output_tokens":1}}}

:

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think."}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"xyz"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"x\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: something_new
data: {"type":"something_new"}

data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_2","name":"f","input":{"a":1}}}

data: {"type":"content_block_stop","index":3}

event: content_block_start
data: {"type":"content_block_start","index":4,"content_block":{"type":"tool_use","id":"toolu_3","name":"g","input":{}}}

event: content_block_stop
data: {"type":"content_block_stop","index":4}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":12,"output_tokens":30}}

event: message_stop
data: {"type":"message_stop"}
`
	f := newFake(t, 200, []byte(body))
	s, err := provisioned(t, f.URL).Stream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := drain(t, s)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := unified.Collect(&unified.SliceStream{Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	want := &unified.Response{ID: "msg_1", Model: "claude", Reasoning: "Let me think.", ReasoningSignature: "EqQB",
		ToolCalls: []unified.ToolCall{{ID: "toolu_2", Name: "f", Arguments: `{"a":1}`}, {ID: "toolu_3", Name: "g", Arguments: "{}"}},
		Finish:    unified.FinishToolCalls,
		Usage:     unified.Usage{InputTokens: 1112, OutputTokens: 30, CachedInput: 1000, CacheWriteInput: 100}}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("collected\n%+v\nwant\n%+v", resp, want)
	}
}

func TestStreamNativeEvents(t *testing.T) {
	t.Parallel()
	fixture := fixtures.Read(t, "anthropic_stream_tool_use.sse")
	f := newFake(t, 200, fixture)
	req := simpleRequest()
	req.ExtensionsDialect, req.Native = "anthropic", []byte(`{"model":"public","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	s, err := provisioned(t, f.URL).Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := drain(t, s)
	if err != nil {
		t.Fatal(err)
	}
	// The native events, in order, rebuild the upstream stream byte for byte.
	var b strings.Builder
	for _, ev := range evs {
		if ev.Type != unified.EventNative {
			continue
		}
		b.WriteString("event: " + ev.Name + "\ndata: " + string(ev.Native) + "\n\n")
	}
	if b.String() != string(fixture) {
		t.Errorf("native events differ from the upstream stream:\n%s", b.String())
	}
	// The unified events are there too, for accounting and other ingresses.
	resp, err := unified.Collect(&unified.SliceStream{Events: evs})
	if err != nil || len(resp.ToolCalls) != 1 || resp.Usage.InputTokens != 412 {
		t.Errorf("unified events: %+v, %v", resp, err)
	}
	if f.body != `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"stream":true}` {
		t.Errorf("upstream body = %s", f.body)
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	body := `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
		"content":[{"type":"thinking","thinking":"Hmm.","signature":"sig"},{"type":"text","text":"Let me check."},
		{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}],
		"stop_reason":"tool_use","stop_sequence":null,
		"usage":{"input_tokens":412,"output_tokens":58,"cache_creation_input_tokens":5,"cache_read_input_tokens":7,"service_tier":"standard"}}`
	f := newFake(t, 200, []byte(body))
	p := provisioned(t, f.URL)
	resp, err := p.Generate(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	want := &unified.Response{ID: "msg_01", Model: "claude-sonnet-4-5-20250929",
		Content: []unified.Part{unified.Text("Let me check.")}, Reasoning: "Hmm.", ReasoningSignature: "sig",
		ToolCalls: []unified.ToolCall{{ID: "toolu_01", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
		Finish:    unified.FinishToolCalls,
		Usage:     unified.Usage{InputTokens: 424, OutputTokens: 58, CachedInput: 7, CacheWriteInput: 5}}
	if !reflect.DeepEqual(resp, want) {
		t.Errorf("response\n%+v\nwant\n%+v", resp, want)
	}
	if strings.Contains(f.body, `"stream"`) {
		t.Errorf("a generate call asked for a stream: %s", f.body)
	}

	req := simpleRequest()
	req.ExtensionsDialect, req.Native = "anthropic", []byte(`{"model":"x","max_tokens":5,"messages":[]}`)
	resp, err = p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Native) != body {
		t.Errorf("native body not kept: %s", resp.Native)
	}
}

func TestFinishReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stop  string
		tools bool
		want  unified.FinishReason
	}{
		{"end_turn", false, unified.FinishStop},
		{"stop_sequence", false, unified.FinishStop},
		{"pause_turn", false, unified.FinishStop},
		{"max_tokens", false, unified.FinishLength},
		{"model_context_window_exceeded", false, unified.FinishLength},
		{"tool_use", false, unified.FinishToolCalls},
		{"refusal", false, unified.FinishContentFilter},
		{"end_turn", true, unified.FinishToolCalls},
		{"", false, unified.FinishStop},
		{"something_new", false, unified.FinishStop},
	}
	for _, tt := range tests {
		if got := FinishReason(tt.stop, tt.tools); got != tt.want {
			t.Errorf("FinishReason(%q, %v) = %q, want %q", tt.stop, tt.tools, got, tt.want)
		}
	}
}

func TestUpstreamErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		clewdr    bool
		status    int
		fixture   string
		headers   []string
		kind      unified.Kind
		retryable bool
		message   string
	}{
		{"anthropic 401", false, 401, "anthropic_error_401.json", nil, unified.KindUpstream, false, "rejected the gateway's credentials"},
		{"anthropic 400", false, 400, "anthropic_error_400_tool_result.json", nil, unified.KindInvalidRequest, false, "unexpected `tool_use_id`"},
		{"anthropic 429", false, 429, "anthropic_error_429.json", []string{"Retry-After", "20"}, unified.KindRateLimit, true, "rate limit"},
		{"anthropic 529", false, 529, "anthropic_error_529.json", []string{"Retry-After", "2"}, unified.KindOverloaded, true, "Overloaded"},
		{"clewdr 401", true, 401, "clewdr_error_401.json", nil, unified.KindUpstream, false, "rejected the gateway's credentials"},
		{"clewdr 504", true, 504, "clewdr_error_504.json", nil, unified.KindUpstream, true, "exhausted its retries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tt.status, fixtures.Read(t, tt.fixture), tt.headers...)
			var conn connectors.Connector = provisioned(t, f.URL)
			if tt.clewdr {
				conn = clewdr(t, f.URL, "")
			}
			_, err := conn.Generate(context.Background(), simpleRequest())
			e := unified.AsError(err)
			if e.Kind != tt.kind || e.Retryable != tt.retryable || !strings.Contains(e.Message, tt.message) || e.UpstreamStatus != tt.status {
				t.Errorf("err = %+v, want kind %d retryable %v message ~%q", e, tt.kind, tt.retryable, tt.message)
			}
			if strings.Contains(e.Message, secret) || strings.Contains(e.Message, "clewdr-password") {
				t.Errorf("secret leaked: %s", e.Message)
			}
			if tt.status == 429 && e.RetryAfter.Seconds() != 20 {
				t.Errorf("retry after = %v", e.RetryAfter)
			}
		})
	}
}

func TestClewdrErrorWithObjectMessage(t *testing.T) {
	t.Parallel()
	f := newFake(t, 429, []byte(`{"error":{"message":{"type":"exceeded_limit","resetsAt":1760000000},"type":"rate_limit_error","code":429}}`))
	_, err := clewdr(t, f.URL, "web").Generate(context.Background(), simpleRequest())
	e := unified.AsError(err)
	if e.Kind != unified.KindRateLimit || !strings.Contains(e.Message, `"resetsAt":1760000000`) {
		t.Errorf("err = %+v", e)
	}
}

func TestClewdrEndpoints(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, fixtures.Read(t, "anthropic_stream_text.sse"))
	for _, tt := range []struct{ endpoint, path string }{{"", "/code/v1/messages"}, {"code", "/code/v1/messages"}, {"web", "/v1/messages"}} {
		c := clewdr(t, f.URL, tt.endpoint)
		s, err := c.Stream(context.Background(), simpleRequest())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := drain(t, s); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		path, key := f.path, f.header.Get("X-Api-Key")
		f.mu.Unlock()
		if path != tt.path || key != "clewdr-password" {
			t.Errorf("endpoint %q: path %q key %q", tt.endpoint, path, key)
		}
	}
	if clewdr(t, f.URL, "web").Capabilities().Documents || !clewdr(t, f.URL, "code").Capabilities().Documents {
		t.Error("only the web endpoint refuses documents")
	}
	if err := (&Clewdr{Endpoint: "api"}).Provision(caddy.Context{}); err == nil {
		t.Error("an unknown endpoint was accepted")
	}
}

func TestCountTokens(t *testing.T) {
	t.Parallel()
	f := newFake(t, 200, []byte(`{"input_tokens":2095}`))
	req := simpleRequest()
	req.ExtensionsDialect, req.Native = "anthropic", []byte(`{"model":"public","messages":[{"role":"user","content":"hi"}]}`)
	n, err := provisioned(t, f.URL).CountTokens(context.Background(), req)
	if err != nil || n != 2095 {
		t.Fatalf("CountTokens = %d, %v", n, err)
	}
	if f.path != "/v1/messages/count_tokens" || f.body != `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}` {
		t.Errorf("path %q body %s", f.path, f.body)
	}
	if _, err := clewdr(t, f.URL, "code").CountTokens(context.Background(), req); err != nil || f.path != "/code/v1/messages/count_tokens" {
		t.Errorf("clewdr code count: %v at %q", err, f.path)
	}
	if _, err := clewdr(t, f.URL, "web").CountTokens(context.Background(), req); !errors.Is(err, connectors.ErrNoTokenCount) {
		t.Errorf("clewdr web count err = %v", err)
	}
}
