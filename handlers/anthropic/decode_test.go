package anthropic

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func ptr[T any](v T) *T { return &v }

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		d    Dialect
		want unified.Request // Native, ExtensionsDialect and Extensions are checked separately
	}{
		{
			name: "minimal",
			body: `{"model":"claude","max_tokens":100,"messages":[{"role":"user","content":"Hello"}]}`,
			want: unified.Request{Model: "claude", MaxTokens: ptr(100),
				Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("Hello")}}}},
		},
		{
			name: "system as string and as blocks; sampling; metadata; stream",
			body: `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"A","cache_control":{"type":"ephemeral"}},{"type":"text","text":"B"}],
				"temperature":0.2,"top_p":0.9,"top_k":5,"stop_sequences":["END"],"metadata":{"user_id":"u1"},"stream":true,
				"messages":[{"role":"user","content":"x"}]}`,
			want: unified.Request{Model: "m", MaxTokens: ptr(5), Temperature: ptr(0.2), TopP: ptr(0.9), TopK: ptr(5),
				Stop: []string{"END"}, User: "u1", Stream: true,
				Messages: []unified.Message{
					{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("A")}},
					{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("B")}},
					{Role: unified.RoleUser, Content: []unified.Part{unified.Text("x")}},
				}},
		},
		{
			name: "tool use and results: results become tool messages ahead of the turn's text",
			body: `{"model":"m","max_tokens":5,"system":"S","messages":[
				{"role":"user","content":"Weather?"},
				{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"sig"},{"type":"redacted_thinking","data":"enc"},
					{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"w","input":{"city":"Paris"}},
					{"type":"tool_use","id":"toolu_2","name":"w","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18C"},
					{"type":"text","text":"and?"},
					{"type":"tool_result","tool_use_id":"toolu_2","is_error":true,"content":[{"type":"text","text":"no"},
						{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]}]}]}`,
			want: unified.Request{Model: "m", MaxTokens: ptr(5), Messages: []unified.Message{
				{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("S")}},
				{Role: unified.RoleUser, Content: []unified.Part{unified.Text("Weather?")}},
				{Role: unified.RoleAssistant, Content: []unified.Part{
					{Type: unified.PartThinking, Text: "t", Signature: "sig"},
					{Type: unified.PartRedactedThinking, Data: "enc"},
					unified.Text("Checking."),
				}, ToolCalls: []unified.ToolCall{
					{ID: "toolu_1", Name: "w", Arguments: `{"city":"Paris"}`},
					{ID: "toolu_2", Name: "w", Arguments: `{}`},
				}},
				{Role: unified.RoleTool, ToolCallID: "toolu_1", Content: []unified.Part{unified.Text("18C")}},
				{Role: unified.RoleTool, ToolCallID: "toolu_2", IsError: true, Content: []unified.Part{
					unified.Text("no"), {Type: unified.PartImage, MIMEType: "image/png", Data: "AAA"}}},
				{Role: unified.RoleUser, Content: []unified.Part{unified.Text("and?")}},
			}},
		},
		{
			name: "images, documents, empty text dropped",
			body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
				{"type":"text","text":""},
				{"type":"image","source":{"type":"base64","media_type":"IMAGE/JPEG","data":"AAA"}},
				{"type":"image","source":{"type":"url","url":"https://x/cat.png"}},
				{"type":"document","title":"r.pdf","source":{"type":"base64","media_type":"application/pdf","data":"JVBE"}},
				{"type":"document","source":{"type":"url","url":"https://x/a.pdf"}},
				{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain"}}]}]}`,
			want: unified.Request{Model: "m", MaxTokens: ptr(5), Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{
				{Type: unified.PartImage, MIMEType: "image/jpeg", Data: "AAA"},
				{Type: unified.PartImage, URL: "https://x/cat.png"},
				{Type: unified.PartFile, MIMEType: "application/pdf", Data: "JVBE", Filename: "r.pdf"},
				{Type: unified.PartFile, MIMEType: "application/pdf", URL: "https://x/a.pdf"},
				unified.Text("plain"),
			}}}},
		},
		{
			name: "tools and tool_choice",
			body: `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
				"tools":[{"name":"w","description":"Weather","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],
				"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`,
			want: unified.Request{Model: "m", MaxTokens: ptr(5),
				Messages:   []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("x")}}},
				Tools:      []unified.Tool{{Name: "w", Description: "Weather", Parameters: jsontext.Value(`{"type":"object"}`)}},
				ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceRequired}, ParallelToolCalls: ptr(false)},
		},
		{
			name: "count_tokens needs no max_tokens and never streams",
			d:    Dialect{CountTokens: true, Beta: "token-counting-2024-11-01"},
			body: `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"tool","name":"w"}}`,
			want: unified.Request{Model: "m", AnthropicBeta: "token-counting-2024-11-01",
				Messages:   []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("x")}}},
				ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: "w"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.d.DecodeRequest([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Native) != tt.body || got.ExtensionsDialect != "anthropic" || got.NativeOnly != "" {
				t.Errorf("native %q dialect %q nativeOnly %q", got.Native, got.ExtensionsDialect, got.NativeOnly)
			}
			got.Native, got.ExtensionsDialect, got.Extensions = nil, "", nil
			stripOrigins(got)
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", *got, tt.want)
			}
		})
	}
}

func TestDecodeKeepsWhatItDoesNotModel(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},"service_tier":"auto",
		"messages":[{"role":"user","content":[{"type":"search_result","source":"s","title":"t","content":[]},{"type":"text","text":"q"}]}],
		"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3},{"name":"f","input_schema":{"type":"object"}}]}`
	req, err := Dialect{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if string(req.Extensions["thinking"]) != `{"type":"enabled","budget_tokens":1024}` || string(req.Extensions["service_tier"]) != `"auto"` {
		t.Errorf("extensions = %v", req.Extensions)
	}
	if _, ok := req.Extensions["model"]; ok || len(req.Extensions) != 2 {
		t.Errorf("modelled fields in extensions: %v", req.Extensions)
	}
	if req.NativeOnly != `messages.0.content.0: content block type "search_result"` {
		t.Errorf("NativeOnly = %q", req.NativeOnly)
	}
	if len(req.Tools) != 1 || req.Tools[0].Name != "f" {
		t.Errorf("tools = %+v", req.Tools)
	}
	if !thinkingRequested(req) {
		t.Error("thinking not seen as requested")
	}
	if err := req.CheckPortable("openai"); err == nil || !strings.Contains(err.Message, "search_result") {
		t.Errorf("CheckPortable(openai) = %v", err)
	}
	if err := req.CheckPortable("anthropic"); err != nil {
		t.Errorf("CheckPortable(anthropic) = %v", err)
	}

	req, _ = Dialect{}.DecodeRequest([]byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],
		"tools":[{"type":"web_search_20250305","name":"web_search"}]}`))
	if req.NativeOnly != `tools.0: tool type "web_search_20250305"` {
		t.Errorf("NativeOnly = %q", req.NativeOnly)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, param, message string
	}{
		{"not JSON", `{"model":`, "", "not valid JSON"},
		{"no model", `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, "model", "Field required"},
		{"no max_tokens", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens", "Field required"},
		{"no messages", `{"model":"m","max_tokens":5,"messages":[]}`, "messages", "at least one"},
		{"system role", `{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, "messages.0.role", "user or assistant"},
		{"temperature above 1", `{"model":"m","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, "temperature", "between 0 and 1"},
		{"content of the wrong type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":5}]}`, "messages.0.content", "string or an array"},
		{"max_tokens a string", `{"model":"m","max_tokens":"5","messages":[{"role":"user","content":"x"}]}`, "max_tokens", "invalid type"},
		{"tool_use in a user turn", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]}]}`, "messages.0.content.0.type", "assistant"},
		{"tool_result without id", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "messages.0.content.0.tool_use_id", "Field required"},
		{"input not an object", `{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":[1]}]}]}`, "messages.0.content.0.input", "object"},
		{"image without source", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image"}]}]}`, "messages.0.content.0.source", "Field required"},
		{"tool without schema", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f"}]}`, "tools.0.input_schema", "Field required"},
		{"bad tool_choice", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"required"}}`, "tool_choice.type", "auto, any, tool or none"},
		{"nested field of the wrong type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"text","text":5}]}]}]}`, "messages.0.content.0.content.0.text", "invalid type"},
		{"source of the wrong type", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":"x"}]}]}`, "messages.0.content.0.source", "invalid type"},
		{"block not an object", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[5]}]}`, "messages.0.content.0", "must be an object"},
		{"system block not text", `{"model":"m","max_tokens":5,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]}`, "system.0.type", "text blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Dialect{}.DecodeRequest([]byte(tt.body))
			e := unified.AsError(err)
			if e == nil || e.Kind != unified.KindInvalidRequest || e.Param != tt.param || !strings.Contains(e.Message, tt.message) {
				t.Fatalf("err = %+v, want param %q message ~%q", e, tt.param, tt.message)
			}
		})
	}
}

// stripOrigins clears what the decoder records about the client's body
// (origins and counts), which the validation table in package validate
// checks through the errors they produce.
func stripOrigins(r *unified.Request) {
	r.SentMessages, r.SentTools = 0, 0
	for i := range r.Messages {
		m := &r.Messages[i]
		m.Origin = unified.Origin{}
		for j := range m.Content {
			m.Content[j].Origin = 0
		}
	}
	for i := range r.Tools {
		r.Tools[i].Origin = 0
	}
}

func TestDecodeThinkingAsReasoning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		thinking string
		want     *unified.Reasoning
		errParam string
	}{
		{`{"type":"enabled","budget_tokens":2048}`, &unified.Reasoning{BudgetTokens: 2048}, ""},
		{`{"type":"disabled"}`, nil, ""},
		{`{"type":"adaptive"}`, &unified.Reasoning{Effort: "medium"}, ""},
		{`{"type":"enabled","budget_tokens":100}`, nil, "thinking.budget_tokens"},
		{`{"type":"enabled"}`, nil, "thinking.budget_tokens"},
		{`"on"`, nil, "thinking"},
		{`{}`, nil, "thinking"},
	}
	for _, tt := range tests {
		body := `{"model":"m","max_tokens":4096,"thinking":` + tt.thinking + `,"messages":[{"role":"user","content":"Hi"}]}`
		req, err := Dialect{}.DecodeRequest([]byte(body))
		if tt.errParam != "" {
			var ue *unified.Error
			if !errors.As(err, &ue) || ue.Param != tt.errParam {
				t.Errorf("%s: err = %v, want one naming %s", tt.thinking, err, tt.errParam)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.thinking, err)
			continue
		}
		if !reflect.DeepEqual(req.Reasoning, tt.want) {
			t.Errorf("%s: Reasoning = %+v, want %+v", tt.thinking, req.Reasoning, tt.want)
		}
	}
}
