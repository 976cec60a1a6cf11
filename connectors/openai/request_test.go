package openai

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// nonStreamToolCalls is a realistic non-streamed answer (wire-formats §2.3).
const nonStreamToolCalls = `{
  "id": "chatcmpl-7QyqpwdfhqwajicIEznoc6Q47XAyW",
  "object": "chat.completion",
  "created": 1733150400,
  "model": "gpt-4o-2024-08-06",
  "system_fingerprint": "fp_50cad350e4",
  "service_tier": "default",
  "choices": [{
    "index": 0,
    "message": {
      "role": "assistant",
      "content": null,
      "refusal": null,
      "annotations": [],
      "tool_calls": [
        {"id": "call_Qm3VtW9xLk2Pz8Rb", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
        {"id": "call_Hn7YcJ2sDf4Gq1Xa", "type": "function", "function": {"name": "get_time", "arguments": ""}}
      ]
    },
    "logprobs": null,
    "finish_reason": "tool_calls"
  }],
  "usage": {
    "prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99,
    "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 5, "audio_tokens": 0,
                                  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  }
}`

const nonStreamText = `{"id":"gen-1733150400-abc","provider":"Anthropic","model":"anthropic/claude-sonnet-4.5","object":"chat.completion","created":1733150400,
"choices":[{"index":0,"logprobs":null,"finish_reason":"stop","native_finish_reason":"end_turn","message":{"role":"assistant","content":"Frost on the window,\nthe kettle hums a small song.","refusal":null,"reasoning":"The user wants a haiku."}}],
"usage":{"prompt_tokens":19,"completion_tokens":16,"total_tokens":35,"cost":0.000297,"is_byok":false}}`

func TestGenerate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		want    *unified.Response
		wantErr string
	}{
		{
			name: "tool calls with null content",
			body: nonStreamToolCalls,
			want: &unified.Response{
				ID: "chatcmpl-7QyqpwdfhqwajicIEznoc6Q47XAyW", Model: "gpt-4o-2024-08-06",
				ToolCalls: []unified.ToolCall{
					{ID: "call_Qm3VtW9xLk2Pz8Rb", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					{ID: "call_Hn7YcJ2sDf4Gq1Xa", Name: "get_time", Arguments: "{}"},
				},
				Finish: unified.FinishToolCalls,
				Usage:  unified.Usage{InputTokens: 82, OutputTokens: 17, CachedInput: 64, ReasoningTokens: 5},
			},
		},
		{
			name: "openrouter text with reasoning",
			body: nonStreamText,
			want: &unified.Response{
				ID: "gen-1733150400-abc", Model: "anthropic/claude-sonnet-4.5",
				Content:   []unified.Part{unified.Text(haiku)},
				Reasoning: "The user wants a haiku.",
				Finish:    unified.FinishStop,
				Usage:     unified.Usage{InputTokens: 19, OutputTokens: 16},
			},
		},
		{
			name: "finish reasons: content_filter, no usage",
			body: `{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}`,
			want: &unified.Response{ID: "c", Model: "m", Finish: unified.FinishContentFilter},
		},
		{
			name: "finish reason length",
			body: `{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"abc","reasoning_content":"r"},"finish_reason":"length"}]}`,
			want: &unified.Response{ID: "c", Model: "m", Content: []unified.Part{unified.Text("abc")}, Reasoning: "r", Finish: unified.FinishLength},
		},
		{
			name:    "finish_reason error in the body",
			body:    `{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"par"},"finish_reason":"error"}]}`,
			wantErr: "reported an error",
		},
		{
			name:    "in-band error with status 200",
			body:    `{"error":{"code":502,"message":"Provider returned error","metadata":{"raw":"{\"error\":{\"message\":\"upstream exploded\"}}","provider_name":"X"}}}`,
			wantErr: "upstream exploded",
		},
		{
			name:    "no choices",
			body:    `{"id":"c","model":"m","choices":[]}`,
			wantErr: "no choices",
		},
		{
			name:    "not JSON",
			body:    `<html>oops</html>`,
			wantErr: "unreadable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := serveFixed(t, jsonReply(200, []byte(tt.body)))
			for name, c := range providers(t, up.URL) {
				got, err := c.Generate(context.Background(), simpleRequest())
				if tt.wantErr != "" {
					ue := asUnified(t, err)
					if ue.Kind != unified.KindUpstream || !strings.Contains(ue.Message, tt.wantErr) {
						t.Errorf("%s: err = %+v, want KindUpstream containing %q", name, ue, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: Generate: %v", name, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s: Generate =\n%#v\nwant\n%#v", name, got, tt.want)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// fullRequest exercises every part of the request encoder.
func fullRequest() *unified.Request {
	return &unified.Request{
		Model: "anthropic/claude-sonnet-4.5",
		Messages: []unified.Message{
			{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("Answer briefly.")}},
			{Role: unified.RoleUser, Name: "alice", Content: []unified.Part{
				unified.Text("What is in this picture, and what's the weather there?"),
				{Type: unified.PartImage, MIMEType: "image/png", Data: "iVBORw0KGgo="},
				{Type: unified.PartImage, URL: "https://example.com/cat.png", Detail: "low"},
			}},
			{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{
				{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
				{ID: "call_2", Name: "get_weather", Arguments: `{"city":"Tokyo"}`},
			}},
			{Role: unified.RoleTool, ToolCallID: "call_1", IsError: true, Content: []unified.Part{unified.Text("city not found")}},
			{Role: unified.RoleTool, ToolCallID: "call_2", Content: []unified.Part{unified.Text("18C")}},
			{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("Tokyo: 18C.")}},
		},
		Tools: []unified.Tool{{
			Name: "get_weather", Description: "Current weather for a city",
			Parameters: jsontext.Value(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
			Strict:     ptr(true),
		}},
		ToolChoice:        &unified.ToolChoice{Mode: unified.ToolChoiceAuto},
		ParallelToolCalls: ptr(false),
		Temperature:       ptr(0.5),
		TopP:              ptr(0.9),
		TopK:              ptr(40),
		MaxTokens:         ptr(100),
		Stop:              []string{"END", "STOP"},
		Seed:              ptr(int64(7)),
		ResponseFormat:    jsontext.Value(`{"type":"json_object"}`),
		User:              "user-42",
	}
}

const fullRequestMessages = `[
  {"role":"system","content":"Answer briefly."},
  {"role":"user","name":"alice","content":[
    {"type":"text","text":"What is in this picture, and what's the weather there?"},
    {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
    {"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"low"}}]},
  {"role":"assistant","content":null,"tool_calls":[
    {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
    {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}]},
  {"role":"tool","tool_call_id":"call_1","content":"Error: city not found"},
  {"role":"tool","tool_call_id":"call_2","content":"18C"},
  {"role":"assistant","content":"Tokyo: 18C."}
]`

const fullRequestTools = `[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city",
  "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}}]`

// recordingUpstream answers a stream request with a short stream and any
// other request with a short JSON answer.
func recordingUpstream(t *testing.T) *upstream {
	stream := fixture(t, "openai_stream_text.sse") // outside the handler: t.Fatal must run on the test goroutine
	return newUpstream(t, func(r *http.Request, body []byte) reply {
		if strings.Contains(string(body), `"stream":true`) {
			return sseReply(stream)
		}
		return jsonReply(200, []byte(nonStreamText))
	})
}

func TestRequestEncodingFull(t *testing.T) {
	t.Parallel()
	up := recordingUpstream(t)
	tests := []struct {
		name   string
		c      connectors.Connector
		stream bool
		want   string
	}{
		{
			name: "openrouter", c: newOpenRouter(t, up.URL, nil),
			want: `{"model":"anthropic/claude-sonnet-4.5","messages":` + fullRequestMessages + `,
			  "max_tokens":100,"temperature":0.5,"top_p":0.9,"top_k":40,"stop":["END","STOP"],"seed":7,
			  "tools":` + fullRequestTools + `,"tool_choice":"auto","parallel_tool_calls":false,
			  "response_format":{"type":"json_object"},"user":"user-42"}`,
		},
		{
			name: "openrouter stream", c: newOpenRouter(t, up.URL, nil), stream: true,
			want: `{"model":"anthropic/claude-sonnet-4.5","messages":` + fullRequestMessages + `,
			  "stream":true,"stream_options":{"include_usage":true},
			  "max_tokens":100,"temperature":0.5,"top_p":0.9,"top_k":40,"stop":["END","STOP"],"seed":7,
			  "tools":` + fullRequestTools + `,"tool_choice":"auto","parallel_tool_calls":false,
			  "response_format":{"type":"json_object"},"user":"user-42"}`,
		},
		{
			name: "openai-compatible (no top_k)", c: newOpenAI(t, up.URL, nil),
			want: `{"model":"anthropic/claude-sonnet-4.5","messages":` + fullRequestMessages + `,
			  "max_tokens":100,"temperature":0.5,"top_p":0.9,"stop":["END","STOP"],"seed":7,
			  "tools":` + fullRequestTools + `,"tool_choice":"auto","parallel_tool_calls":false,
			  "response_format":{"type":"json_object"},"user":"user-42"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests share one recording upstream.
			if tt.stream {
				s, err := tt.c.Stream(context.Background(), fullRequest())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := unified.Collect(s); err != nil {
					t.Fatal(err)
				}
			} else if _, err := tt.c.Generate(context.Background(), fullRequest()); err != nil {
				t.Fatal(err)
			}
			rec := up.last(t)
			if rec.Method != http.MethodPost || rec.Path != "/chat/completions" {
				t.Errorf("request = %s %s, want POST /chat/completions", rec.Method, rec.Path)
			}
			jsonEqual(t, rec.Body, tt.want)
		})
	}
}

// Regression: openaiwire.ChatRequest.Unknown (internal/openaiwire/wire.go:34) is
// tagged `json:",unknown"`, an option go-json-experiment v1.27.2 no longer
// knows (it was replaced by `embed`; unknown options are silently ignored).
// The field is therefore marshalled as an ordinary member named "Unknown":
// every upstream request carries "Unknown":{} (OpenAI answers 400
// "Unrecognized request argument supplied: Unknown"), Extensions are never
// forwarded at the top level, and the ingress never captures unknown
// request members. Fix: tag the field `json:",embed"`.
func TestRequestHasNoUnknownMember(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"openai", "openrouter"} {
		for _, stream := range []bool{false, true} {
			body := send(t, typ, nil, simpleRequest(), stream)
			if v, ok := body["Unknown"]; ok {
				t.Errorf("%s (stream %v): body has a stray \"Unknown\" member: %v", typ, stream, v)
			}
		}
	}
}

// Regression: see TestRequestHasNoUnknownMember; Extensions are sent nested under
// "Unknown" instead of as top-level members.
func TestRequestExtensions(t *testing.T) {
	t.Parallel()
	ext := map[string]jsontext.Value{
		"provider":         jsontext.Value(`{"order":["Anthropic"],"allow_fallbacks":false}`),
		"reasoning_effort": jsontext.Value(`"low"`),
	}
	for _, typ := range []string{"openai", "openrouter"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			req := simpleRequest()
			req.Extensions, req.ExtensionsDialect = ext, "openai"
			b := send(t, typ, nil, req, false)
			want := map[string]any{"order": []any{"Anthropic"}, "allow_fallbacks": false}
			if !reflect.DeepEqual(b["provider"], want) || b["reasoning_effort"] != "low" {
				t.Errorf("provider = %v, reasoning_effort = %v; body %v", b["provider"], b["reasoning_effort"], b)
			}
		})
	}
}

// send runs req through a fresh provider and returns the body upstream saw.
func send(t *testing.T, typ string, mod func(*OpenAI), req *unified.Request, stream bool) map[string]any {
	t.Helper()
	up := recordingUpstream(t)
	var c connectors.Connector
	if typ == "openrouter" {
		c = newOpenRouter(t, up.URL, mod)
	} else {
		c = newOpenAI(t, up.URL, mod)
	}
	if stream {
		s, err := c.Stream(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	} else if _, err := c.Generate(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	return decodeBody(t, up.last(t).Body)
}

func TestRequestToolChoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tc   *unified.ToolChoice
		want any // nil: absent
	}{
		{"unset", nil, nil},
		{"auto", &unified.ToolChoice{Mode: unified.ToolChoiceAuto}, "auto"},
		{"none", &unified.ToolChoice{Mode: unified.ToolChoiceNone}, "none"},
		{"required", &unified.ToolChoice{Mode: unified.ToolChoiceRequired}, "required"},
		{"tool", &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: "get_weather"},
			map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}},
		{"tool name needing escapes", &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: `a"b`},
			map[string]any{"type": "function", "function": map[string]any{"name": `a"b`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := simpleRequest()
			req.Tools = []unified.Tool{{Name: "get_weather"}}
			req.ToolChoice = tt.tc
			body := send(t, "openrouter", nil, req, false)
			got, ok := body["tool_choice"]
			if tt.want == nil {
				if ok {
					t.Fatalf("tool_choice = %v, want it absent", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("tool_choice = %#v, want %#v", got, tt.want)
			}
			if tools := body["tools"].([]any); len(tools) != 1 {
				t.Fatalf("tools = %v", tools)
			}
		})
	}
}

func TestRequestOptions(t *testing.T) {
	t.Parallel()
	ext := map[string]jsontext.Value{
		"provider":         jsontext.Value(`{"order":["Anthropic"],"allow_fallbacks":false}`),
		"reasoning_effort": jsontext.Value(`"low"`),
	}
	tests := []struct {
		name   string
		typ    string
		mod    func(*OpenAI)
		req    func(*unified.Request)
		stream bool
		check  func(t *testing.T, body map[string]any)
	}{
		{
			name: "stream asks for usage even when the client did not", typ: "openai", stream: true,
			check: func(t *testing.T, b map[string]any) {
				if b["stream"] != true || !reflect.DeepEqual(b["stream_options"], map[string]any{"include_usage": true}) {
					t.Errorf("stream = %v, stream_options = %v", b["stream"], b["stream_options"])
				}
			},
		},
		{
			name: "a thinking budget becomes reasoning_effort", typ: "openrouter",
			req: func(r *unified.Request) { r.Reasoning = &unified.Reasoning{BudgetTokens: 4000} },
			check: func(t *testing.T, b map[string]any) {
				if b["reasoning_effort"] != "medium" {
					t.Errorf("reasoning_effort = %v", b["reasoning_effort"])
				}
			},
		},
		{
			name: "reasoning_effort is sent as the client gave it", typ: "openai",
			req: func(r *unified.Request) { r.Reasoning = &unified.Reasoning{Effort: "minimal"} },
			check: func(t *testing.T, b map[string]any) {
				if b["reasoning_effort"] != "minimal" {
					t.Errorf("reasoning_effort = %v", b["reasoning_effort"])
				}
			},
		},
		{
			name: "no stream: no stream_options", typ: "openrouter",
			check: func(t *testing.T, b map[string]any) {
				if _, ok := b["stream_options"]; ok {
					t.Errorf("stream_options = %v", b["stream_options"])
				}
				if s, ok := b["stream"]; ok && s != false {
					t.Errorf("stream = %v", s)
				}
			},
		},
		{
			name: "openrouter sends max_tokens", typ: "openrouter",
			req:   func(r *unified.Request) { r.MaxTokens = ptr(256) },
			check: maxTokens("max_tokens", 256),
		},
		{
			name: "openai type elsewhere sends max_tokens", typ: "openai",
			req:   func(r *unified.Request) { r.MaxTokens = ptr(256) },
			check: maxTokens("max_tokens", 256),
		},
		{
			name: "explicit max_tokens_field", typ: "openrouter",
			mod:   func(p *OpenAI) { p.MaxTokensField = "max_completion_tokens" },
			req:   func(r *unified.Request) { r.MaxTokens = ptr(64) },
			check: maxTokens("max_completion_tokens", 64),
		},
		{
			name: "no limit: neither field", typ: "openai",
			check: func(t *testing.T, b map[string]any) {
				for _, f := range []string{"max_tokens", "max_completion_tokens"} {
					if _, ok := b[f]; ok {
						t.Errorf("%s = %v", f, b[f])
					}
				}
			},
		},
		{
			name: "top_k only to openrouter", typ: "openai",
			req: func(r *unified.Request) { r.TopK = ptr(40) },
			check: func(t *testing.T, b map[string]any) {
				if _, ok := b["top_k"]; ok {
					t.Errorf("top_k = %v sent to an openai provider", b["top_k"])
				}
			},
		},
		{
			name: "top_k to openrouter", typ: "openrouter",
			req: func(r *unified.Request) { r.TopK = ptr(40) },
			check: func(t *testing.T, b map[string]any) {
				if b["top_k"] != float64(40) {
					t.Errorf("top_k = %v", b["top_k"])
				}
			},
		},
		{
			name: "n > 1", typ: "openai",
			req: func(r *unified.Request) { r.N = 3 },
			check: func(t *testing.T, b map[string]any) {
				if b["n"] != float64(3) {
					t.Errorf("n = %v", b["n"])
				}
			},
		},
		{
			name: "n = 1 not sent", typ: "openai",
			req: func(r *unified.Request) { r.N = 1 },
			check: func(t *testing.T, b map[string]any) {
				if _, ok := b["n"]; ok {
					t.Errorf("n = %v", b["n"])
				}
			},
		},
		{
			name: "anthropic extensions dropped", typ: "openrouter",
			req: func(r *unified.Request) {
				r.Extensions = map[string]jsontext.Value{"thinking": jsontext.Value(`{"type":"enabled"}`), "reasoning_effort": jsontext.Value(`"low"`)}
				r.ExtensionsDialect = "anthropic"
			},
			check: func(t *testing.T, b map[string]any) {
				for _, f := range []string{"thinking", "reasoning_effort"} {
					if _, ok := b[f]; ok {
						t.Errorf("%s forwarded from another dialect", f)
					}
				}
			},
		},
		{
			name: "extensions without a dialect dropped", typ: "openai",
			req: func(r *unified.Request) { r.Extensions = ext },
			check: func(t *testing.T, b map[string]any) {
				if _, ok := b["provider"]; ok {
					t.Errorf("provider forwarded")
				}
			},
		},
		{
			name: "audio, file and video parts", typ: "openai",
			req: func(r *unified.Request) {
				r.Messages = []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{
					{Type: unified.PartAudio, MIMEType: "audio/mpeg", Data: "SUQz"},
					{Type: unified.PartAudio, MIMEType: "audio/wav", Data: "UklG"},
					{Type: unified.PartFile, MIMEType: "application/pdf", Data: "JVBERi0=", Filename: "a.pdf"},
					{Type: unified.PartFile, URL: "https://example.com/a.pdf"},
					{Type: unified.PartVideo, URL: "https://example.com/v.mp4"},
				}}}
			},
			check: func(t *testing.T, b map[string]any) {
				want := []any{
					map[string]any{"type": "input_audio", "input_audio": map[string]any{"data": "SUQz", "format": "mp3"}},
					map[string]any{"type": "input_audio", "input_audio": map[string]any{"data": "UklG", "format": "wav"}},
					map[string]any{"type": "file", "file": map[string]any{"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
					map[string]any{"type": "file", "file": map[string]any{"file_data": "https://example.com/a.pdf"}},
					map[string]any{"type": "video_url", "video_url": map[string]any{"url": "https://example.com/v.mp4"}},
				}
				got := b["messages"].([]any)[0].(map[string]any)["content"]
				if !reflect.DeepEqual(got, want) {
					t.Errorf("content = %#v\nwant %#v", got, want)
				}
			},
		},
		{
			name: "assistant with text and tool calls keeps the text", typ: "openai",
			req: func(r *unified.Request) {
				r.Messages = append(r.Messages, unified.Message{Role: unified.RoleAssistant,
					Content:   []unified.Part{unified.Text("Let me check.")},
					ToolCalls: []unified.ToolCall{{ID: "call_1", Name: "f", Arguments: "{}"}}})
			},
			check: func(t *testing.T, b map[string]any) {
				m := b["messages"].([]any)[1].(map[string]any)
				if m["content"] != "Let me check." || len(m["tool_calls"].([]any)) != 1 {
					t.Errorf("assistant message = %v", m)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := simpleRequest()
			if tt.req != nil {
				tt.req(req)
			}
			tt.check(t, send(t, tt.typ, tt.mod, req, tt.stream))
		})
	}
}

func maxTokens(field string, n int) func(t *testing.T, b map[string]any) {
	return func(t *testing.T, b map[string]any) {
		t.Helper()
		if b[field] != float64(n) {
			t.Errorf("%s = %v, want %d (body %v)", field, b[field], n, b)
		}
		other := "max_tokens"
		if field == other {
			other = "max_completion_tokens"
		}
		if _, ok := b[other]; ok {
			t.Errorf("%s also sent", other)
		}
	}
}

// The default for OpenAI's own API is max_completion_tokens.
func TestMaxTokensFieldDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, base, want string
	}{
		{"openai", "https://api.openai.com/v1", "max_completion_tokens"},
		{"openai", "https://api.openai.com/v1/", "max_completion_tokens"},
		{"openai", "", "max_completion_tokens"}, // the default base URL
		{"openai", "https://api.deepseek.com/v1", "max_tokens"},
		{"openai", "http://localhost:8000/v1", "max_tokens"},
		{"openrouter", "", "max_tokens"},
		{"openrouter", "https://openrouter.ai/api/v1", "max_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.base, func(t *testing.T) {
			t.Parallel()
			var p *OpenAI
			if tt.typ == "openrouter" {
				p = &newOpenRouter(t, tt.base, nil).OpenAI
			} else {
				p = newOpenAI(t, tt.base, nil)
			}
			if p.MaxTokensField != tt.want {
				t.Fatalf("MaxTokensField = %q, want %q", p.MaxTokensField, tt.want)
			}
		})
	}

	// Through the wire: point a provider configured for api.openai.com at
	// the fake upstream and look at the body.
	t.Run("wire", func(t *testing.T) {
		t.Parallel()
		up := recordingUpstream(t)
		p := newOpenAI(t, "https://api.openai.com/v1", nil)
		p.endpoint = up.URL + "/chat/completions"
		req := simpleRequest()
		req.MaxTokens = ptr(512)
		if _, err := p.Generate(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		maxTokens("max_completion_tokens", 512)(t, decodeBody(t, up.last(t).Body))
	})
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	up := recordingUpstream(t)
	p := newOpenRouter(t, up.URL+"/api/v1/", func(p *OpenAI) {
		p.Headers = map[string]string{"HTTP-Referer": "https://xjp.example", "X-Title": "XJP Gateway"}
	})
	if _, err := p.Generate(context.Background(), simpleRequest()); err != nil {
		t.Fatal(err)
	}
	rec := up.last(t)
	if rec.Path != "/api/v1/chat/completions" {
		t.Errorf("path = %q", rec.Path)
	}
	want := map[string]string{
		"Authorization": "Bearer " + testKey,
		"Content-Type":  "application/json",
		"Accept":        "application/json",
		"Http-Referer":  "https://xjp.example",
		"X-Title":       "XJP Gateway",
	}
	for k, v := range want {
		if got := rec.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(rec.Header.Values("Authorization")) != 1 {
		t.Errorf("Authorization sent %d times", len(rec.Header.Values("Authorization")))
	}

	s, err := p.Stream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := up.last(t).Header.Get("Accept"); got != "text/event-stream" {
		t.Errorf("stream Accept = %q", got)
	}
}

func TestProvisionSecrets(t *testing.T) {
	// Not parallel: uses t.Setenv.
	t.Setenv("XJP_TEST_OR_KEY", "  sk-or-from-env  ")
	t.Setenv("XJP_TEST_TITLE", "From Env")
	up := recordingUpstream(t)
	p := &OpenRouter{}
	p.BaseURL, p.APIKey = up.URL, "{env.XJP_TEST_OR_KEY}"
	p.Headers = map[string]string{"X-Title": "{env.XJP_TEST_TITLE}"}
	if err := p.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Cleanup() })
	if _, err := p.Generate(context.Background(), simpleRequest()); err != nil {
		t.Fatal(err)
	}
	h := up.last(t).Header
	if got := h.Get("Authorization"); got != "Bearer sk-or-from-env" {
		t.Errorf("Authorization = %q", got)
	}
	if got := h.Get("X-Title"); got != "From Env" {
		t.Errorf("X-Title = %q", got)
	}
	if p.APIKey != "{env.XJP_TEST_OR_KEY}" {
		t.Errorf("APIKey was rewritten to %q; the resolved secret must not be written back", p.APIKey)
	}

	for _, key := range []string{"{env.XJP_TEST_UNSET_VARIABLE}", "   "} {
		p := &OpenAI{}
		p.APIKey = key
		if err := p.Provision(caddy.Context{}); err == nil {
			t.Errorf("Provision with api_key %q succeeded", key)
		}
	}

	// No key at all: no Authorization header (local servers).
	p2 := &OpenAI{}
	p2.BaseURL = up.URL
	if err := p2.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if _, err := p2.Generate(context.Background(), simpleRequest()); err != nil {
		t.Fatal(err)
	}
	if got := up.last(t).Header.Get("Authorization"); got != "" {
		t.Errorf("Authorization = %q without a key", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"max_tokens", "max_completion_tokens"} {
		if err := (&OpenAI{MaxTokensField: f}).Validate(); err != nil {
			t.Errorf("Validate(%q): %v", f, err)
		}
	}
	for _, f := range []string{"", "maxTokens", "max_output_tokens"} {
		if err := (&OpenAI{MaxTokensField: f}).Validate(); err == nil {
			t.Errorf("Validate(%q) succeeded", f)
		}
	}
}

func TestCapabilities(t *testing.T) {
	t.Parallel()
	oa := newOpenAI(t, "http://localhost:1/v1", nil).Capabilities()
	or := newOpenRouter(t, "", nil).Capabilities()
	if oa.Dialect != "openai" || !oa.Documents || !oa.MultipleChoices {
		t.Errorf("openai capabilities = %+v", oa)
	}
	if or.Dialect != "openai" || !or.Documents || or.MultipleChoices {
		t.Errorf("openrouter capabilities = %+v", or)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		input   string
		want    OpenAI
		wantErr bool
	}{
		{
			name: "full",
			input: `openrouter {
				base_url https://openrouter.ai/api/v1
				api_key {env.OPENROUTER_API_KEY}
				header HTTP-Referer https://xjp.example
				header X-Title "XJP Gateway"
				max_tokens_field max_completion_tokens
			}`,
			want: OpenAI{
				Common: connectors.Common{
					BaseURL: "https://openrouter.ai/api/v1", APIKey: "{env.OPENROUTER_API_KEY}",
					Headers: map[string]string{"HTTP-Referer": "https://xjp.example", "X-Title": "XJP Gateway"},
				},
				MaxTokensField: "max_completion_tokens",
			},
		},
		{name: "empty block", input: `openai`, want: OpenAI{}},
		{name: "unknown option", input: "openai {\n\tmodels x\n}", wantErr: true},
		{name: "extra argument", input: `openai extra`, wantErr: true},
		{name: "max_tokens_field without value", input: "openai {\n\tmax_tokens_field\n}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p OpenAI
			err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, got %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, tt.want) {
				t.Fatalf("got %+v, want %+v", p, tt.want)
			}
		})
	}
}
