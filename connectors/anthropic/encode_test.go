package anthropic

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func ptr[T any](v T) *T { return &v }

func testProvider(t *testing.T) *Anthropic {
	t.Helper()
	p := &Anthropic{}
	if err := p.setup("anthropic", "https://api.anthropic.test"); err != nil {
		t.Fatal(err)
	}
	p.documents = true
	return p
}

// encode translates req and returns the body as generic JSON.
func encode(t *testing.T, p *Anthropic, req *unified.Request, m mode) map[string]any {
	t.Helper()
	body, err := p.encodeRequest(req, m)
	if err != nil {
		t.Fatalf("encodeRequest: %v", err)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	return out
}

func jsonOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad expectation %s: %v", s, err)
	}
	return v
}

func user(text string) unified.Message {
	return unified.Message{Role: unified.RoleUser, Content: []unified.Part{unified.Text(text)}}
}

func TestTranslateRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  unified.Request
		// want maps top-level members to their expected JSON; members not
		// listed are not checked.
		want map[string]string
		// absent members must not be sent.
		absent []string
	}{
		{
			name: "defaults: max_tokens, no sampling",
			req:  unified.Request{Model: "claude", Messages: []unified.Message{user("Hi")}},
			want: map[string]string{
				"model":      `"claude"`,
				"max_tokens": `8192`,
				"messages":   `[{"role":"user","content":[{"type":"text","text":"Hi"}]}]`,
			},
			absent: []string{"system", "temperature", "tools", "tool_choice", "stream", "metadata", "stop_sequences"},
		},
		{
			name: "system messages hoisted, in order, as separate blocks",
			req: unified.Request{Model: "m", Messages: []unified.Message{
				{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("Be brief.")}},
				user("Hi"),
				{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("Answer in French.")}},
			}},
			want: map[string]string{
				"system":   `[{"type":"text","text":"Be brief."},{"type":"text","text":"Answer in French."}]`,
				"messages": `[{"role":"user","content":[{"type":"text","text":"Hi"}]}]`,
			},
		},
		{
			name: "sampling: temperature clamped to 0..1, top_p, top_k, stop, user, max_tokens",
			req: unified.Request{Model: "m", Messages: []unified.Message{user("Hi")},
				Temperature: ptr(1.7), TopP: ptr(0.9), TopK: ptr(40), MaxTokens: ptr(100),
				Stop: []string{"END", " ", ""}, User: "u-42", Seed: ptr(int64(7))},
			want: map[string]string{
				"temperature": `1`, "top_p": `0.9`, "top_k": `40`, "max_tokens": `100`,
				"stop_sequences": `["END"]`, "metadata": `{"user_id":"u-42"}`,
			},
			absent: []string{"seed"},
		},
		{
			name: "temperature inside 0..1 is kept",
			req:  unified.Request{Model: "m", Messages: []unified.Message{user("Hi")}, Temperature: ptr(0.3)},
			want: map[string]string{"temperature": `0.3`},
		},
		{
			name: "tool round trip: calls, results grouped first in one user turn, ids sanitized alike",
			req: unified.Request{Model: "m", Messages: []unified.Message{
				user("Weather in Paris and Tokyo?"),
				{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("")}, ToolCalls: []unified.ToolCall{
					{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					{ID: "functions.get_weather:1", Name: "get_weather", Arguments: ``},
				}},
				{Role: unified.RoleTool, ToolCallID: "call_1", Content: []unified.Part{unified.Text("18°C")}},
				{Role: unified.RoleTool, ToolCallID: "functions.get_weather:1", IsError: true, Content: []unified.Part{unified.Text("no data")}},
				user("And Rome?"),
			}},
			want: map[string]string{
				"messages": `[
					{"role":"user","content":[{"type":"text","text":"Weather in Paris and Tokyo?"}]},
					{"role":"assistant","content":[
						{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
						{"type":"tool_use","id":"` + ToolID("functions.get_weather:1") + `","name":"get_weather","input":{}}]},
					{"role":"user","content":[
						{"type":"tool_result","tool_use_id":"call_1","content":"18°C"},
						{"type":"tool_result","tool_use_id":"` + ToolID("functions.get_weather:1") + `","content":"no data","is_error":true},
						{"type":"text","text":"And Rome?"}]}]`,
			},
		},
		{
			name: "user text before tool results is moved after them",
			req: unified.Request{Model: "m", Messages: []unified.Message{
				{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "a", Name: "f", Arguments: `{}`}}},
				user("note"),
				{Role: unified.RoleTool, ToolCallID: "a", Content: []unified.Part{unified.Text("ok")}},
			}},
			want: map[string]string{
				"messages": `[
					{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},
					{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"ok"},{"type":"text","text":"note"}]}]`,
			},
		},
		{
			name: "consecutive same-role turns merged, empty turns dropped",
			req: unified.Request{Model: "m", Messages: []unified.Message{
				user("one"), user(""), user("two"),
				{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("a")}},
				{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("b")}},
			}},
			want: map[string]string{
				"messages": `[
					{"role":"user","content":[{"type":"text","text":"one"},{"type":"text","text":"two"}]},
					{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]`,
			},
		},
		{
			name: "arguments that are not an object are wrapped",
			req: unified.Request{Model: "m", Messages: []unified.Message{
				{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "a", Name: "f", Arguments: `{"city": "Par`}}},
			}},
			want: map[string]string{
				"messages": `[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{"_raw":"{\"city\": \"Par"}}]}]`,
			},
		},
		{
			name: "thinking kept when signed, unsigned reasoning left out",
			req: unified.Request{Model: "m", Messages: []unified.Message{
				user("q"),
				{Role: unified.RoleAssistant, Content: []unified.Part{
					{Type: unified.PartThinking, Text: "hmm", Signature: "sig"},
					{Type: unified.PartThinking, Text: "unsigned"},
					{Type: unified.PartRedactedThinking, Data: "enc"},
					unified.Text("answer"),
				}},
			}},
			want: map[string]string{
				"messages": `[
					{"role":"user","content":[{"type":"text","text":"q"}]},
					{"role":"assistant","content":[
						{"type":"thinking","thinking":"hmm","signature":"sig"},
						{"type":"redacted_thinking","data":"enc"},
						{"type":"text","text":"answer"}]}]`,
			},
		},
		{
			name: "images by data and URL, PDF and text documents",
			req: unified.Request{Model: "m", Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{
				unified.Text("Look"),
				{Type: unified.PartImage, MIMEType: "image/png", Data: "iVBORw0KGgo=", Detail: "low"},
				{Type: unified.PartImage, URL: "https://example.com/cat.jpg"},
				{Type: unified.PartFile, MIMEType: "application/pdf", Data: "JVBERi0=", Filename: "a.pdf"},
				{Type: unified.PartFile, MIMEType: "text/plain", Data: "aGVsbG8="},
			}}}},
			want: map[string]string{
				"messages": `[{"role":"user","content":[
					{"type":"text","text":"Look"},
					{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
					{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
					{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="},"title":"a.pdf"},
					{"type":"document","source":{"type":"text","media_type":"text/plain","data":"hello"}}]}]`,
			},
		},
		{
			name: "tool results with images keep them as blocks",
			req: unified.Request{Model: "m", Messages: []unified.Message{
				{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "a", Name: "screenshot", Arguments: `{}`}}},
				{Role: unified.RoleTool, ToolCallID: "a", Content: []unified.Part{unified.Text("here"), {Type: unified.PartImage, MIMEType: "image/jpeg", Data: "AAA"}}},
			}},
			want: map[string]string{
				"messages": `[
					{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"screenshot","input":{}}]},
					{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[
						{"type":"text","text":"here"},
						{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"AAA"}}]}]}]`,
			},
		},
		{
			name: "tools and tool choices",
			req: unified.Request{Model: "m", Messages: []unified.Message{user("x")},
				Tools: []unified.Tool{
					{Name: "get_weather", Description: "Weather", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}}}`)},
					{Name: "no_params"},
				},
				ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: "get_weather"}, ParallelToolCalls: ptr(false)},
			want: map[string]string{
				"tools": `[
					{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}},
					{"name":"no_params","input_schema":{"type":"object","properties":{}}}]`,
				"tool_choice": `{"type":"tool","name":"get_weather","disable_parallel_tool_use":true}`,
			},
		},
		{
			name: "required becomes any; parallel false alone becomes auto with the flag",
			req: unified.Request{Model: "m", Messages: []unified.Message{user("x")}, Tools: []unified.Tool{{Name: "f"}},
				ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceRequired}},
			want: map[string]string{"tool_choice": `{"type":"any"}`},
		},
		{
			name: "no tool_choice without tools",
			req: unified.Request{Model: "m", Messages: []unified.Message{user("x")},
				ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceNone}},
			absent: []string{"tools", "tool_choice"},
		},
		{
			name: "none",
			req: unified.Request{Model: "m", Messages: []unified.Message{user("x")}, Tools: []unified.Tool{{Name: "f"}},
				ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceNone}, ParallelToolCalls: ptr(false)},
			want: map[string]string{"tool_choice": `{"type":"none"}`},
		},
		{
			name: "parallel false without a choice",
			req: unified.Request{Model: "m", Messages: []unified.Message{user("x")}, Tools: []unified.Tool{{Name: "f"}},
				ParallelToolCalls: ptr(false)},
			want: map[string]string{"tool_choice": `{"type":"auto","disable_parallel_tool_use":true}`},
		},
	}
	p := testProvider(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := encode(t, p, &tt.req, modeGenerate)
			for k, w := range tt.want {
				if !reflect.DeepEqual(got[k], jsonOf(t, w)) {
					g, _ := json.Marshal(got[k])
					t.Errorf("%s =\n%s\nwant\n%s", k, g, w)
				}
			}
			for _, k := range tt.absent {
				if v, ok := got[k]; ok {
					t.Errorf("%s sent: %v", k, v)
				}
			}
		})
	}
}

func TestTranslateStreamAndCount(t *testing.T) {
	t.Parallel()
	p := testProvider(t)
	req := &unified.Request{Model: "m", Messages: []unified.Message{user("x")}, MaxTokens: ptr(10), Temperature: ptr(0.5),
		Tools: []unified.Tool{{Name: "f"}}}
	if got := encode(t, p, req, modeStream); got["stream"] != true {
		t.Errorf("stream = %v", got["stream"])
	}
	got := encode(t, p, req, modeCount)
	for _, k := range []string{"max_tokens", "temperature", "stream"} {
		if _, ok := got[k]; ok {
			t.Errorf("count_tokens body has %s", k)
		}
	}
	if got["tools"] == nil || got["messages"] == nil || got["model"] != "m" {
		t.Errorf("count_tokens body = %v", got)
	}
}

func TestTranslateRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		req       unified.Request
		documents bool
		want      string
	}{
		{"n > 1", unified.Request{Model: "m", N: 2, Messages: []unified.Message{user("x")}}, true, "n must be 1"},
		{"audio", unified.Request{Model: "m", Messages: []unified.Message{{Role: unified.RoleUser,
			Content: []unified.Part{{Type: unified.PartAudio, MIMEType: "audio/wav", Data: "AAA"}}}}}, true, "audio"},
		{"bmp image", unified.Request{Model: "m", Messages: []unified.Message{{Role: unified.RoleUser,
			Content: []unified.Part{{Type: unified.PartImage, MIMEType: "image/bmp", Data: "AAA"}}}}}, true, "image/bmp"},
		{"word file", unified.Request{Model: "m", Messages: []unified.Message{{Role: unified.RoleUser,
			Content: []unified.Part{{Type: unified.PartFile, MIMEType: "application/msword", Data: "AAA"}}}}}, true, "application/msword"},
		{"documents where the provider takes none", unified.Request{Model: "m", Messages: []unified.Message{{Role: unified.RoleUser,
			Content: []unified.Part{{Type: unified.PartFile, MIMEType: "application/pdf", Data: "AAA"}}}}}, false, "cannot take documents"},
		{"something only another dialect serves", unified.Request{Model: "m", Messages: []unified.Message{user("x")},
			ExtensionsDialect: "gemini", NativeOnly: "tools.0: code execution"}, true, "tools.0: code execution"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := testProvider(t)
			p.documents = tt.documents
			_, err := p.encodeRequest(&tt.req, modeGenerate)
			e := unified.AsError(err)
			if e == nil || e.Kind != unified.KindInvalidRequest || !strings.Contains(e.Error(), tt.want) {
				t.Fatalf("err = %v, want a 400 mentioning %q", err, tt.want)
			}
		})
	}
}

func TestNativeBodyPassesThrough(t *testing.T) {
	t.Parallel()
	p := testProvider(t)
	native := `{"model":"public-name","max_tokens":1024,"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"Hi","cache_control":{"type":"ephemeral","ttl":"1h"}},` +
		`{"type":"search_result","source":"s","title":"t","content":[]}]}],` +
		`"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":2}],"thinking":{"type":"enabled","budget_tokens":2048},` +
		`"stream":true,"service_tier":"auto"}`
	req := &unified.Request{Model: "claude-sonnet-4-5", Native: []byte(native), ExtensionsDialect: "anthropic",
		NativeOnly: "tools.0: tool type \"web_search_20250305\""}
	tests := []struct {
		m    mode
		want string
	}{
		{modeStream, strings.Replace(native, `"public-name"`, `"claude-sonnet-4-5"`, 1)},
		{modeGenerate, strings.Replace(strings.Replace(native, `"public-name"`, `"claude-sonnet-4-5"`, 1), `"stream":true,`, ``, 1)},
		{modeCount, strings.Replace(strings.Replace(native, `"public-name"`, `"claude-sonnet-4-5"`, 1), `"stream":true,`, ``, 1)},
	}
	for _, tt := range tests {
		got, err := p.encodeRequest(req, tt.m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("mode %d:\n got %s\nwant %s", tt.m, got, tt.want)
		}
	}
	// A stream flag the client did not send is added for a stream only.
	req.Native = []byte(`{"model":"x","messages":[]}`)
	if got, _ := p.encodeRequest(req, modeStream); string(got) != `{"model":"claude-sonnet-4-5","messages":[],"stream":true}` {
		t.Errorf("stream flag not added: %s", got)
	}
	if got, _ := p.encodeRequest(req, modeGenerate); string(got) != `{"model":"claude-sonnet-4-5","messages":[]}` {
		t.Errorf("generate body changed: %s", got)
	}
}

func TestToolID(t *testing.T) {
	t.Parallel()
	valid := []string{"toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp", "call_Qm3VtW9xLk2Pz8Rb", "a-b_C9"}
	for _, id := range valid {
		if got := ToolID(id); got != id {
			t.Errorf("ToolID(%q) = %q, want it unchanged", id, got)
		}
	}
	seen := map[string]string{}
	for _, id := range []string{"functions.Bash:0", "functions.Bash_0", "functions.Bash:1", "", "call 1", "é"} {
		got := ToolID(id)
		if got != ToolID(id) {
			t.Errorf("ToolID(%q) is not deterministic", id)
		}
		for i := 0; i < len(got); i++ {
			if !isIDByte(got[i]) {
				t.Errorf("ToolID(%q) = %q has invalid byte %q", id, got, got[i])
			}
		}
		if other, dup := seen[got]; dup {
			t.Errorf("ToolID(%q) = ToolID(%q) = %q", id, other, got)
		}
		seen[got] = id
	}
	if got := ToolID("functions.Bash:0"); !strings.HasPrefix(got, "functions_Bash_0_") {
		t.Errorf("ToolID keeps the readable part: %q", got)
	}
}

func TestAnthropicTemperature(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   *float64
		want *float64
	}{
		{nil, nil}, {ptr(0.0), ptr(0.0)}, {ptr(0.7), ptr(0.7)}, {ptr(1.0), ptr(1.0)},
		{ptr(1.2), ptr(1.0)}, {ptr(2.0), ptr(1.0)}, {ptr(-1.0), ptr(0.0)},
	}
	for _, tt := range tests {
		got := AnthropicTemperature(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("AnthropicTemperature(%v) = %v, want %v", deref(tt.in), deref(got), deref(tt.want))
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func TestTranslateReasoning(t *testing.T) {
	t.Parallel()
	p := testProvider(t)
	tests := []struct {
		name      string
		reasoning *unified.Reasoning
		maxTokens int
		topP      float64
		want      map[string]any // members expected; nil value: absent
	}{
		{"effort becomes a budget, added to a smaller max_tokens", &unified.Reasoning{Effort: "high"}, 1000, 0.9,
			map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 24576.0}, "max_tokens": 25576.0,
				"temperature": nil, "top_k": nil, "top_p": nil}},
		{"a budget under max_tokens leaves it", &unified.Reasoning{BudgetTokens: 2048}, 8000, 0.97,
			map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 2048.0}, "max_tokens": 8000.0, "top_p": 0.97}},
		{"effort none asks for nothing", &unified.Reasoning{Effort: "none"}, 1000, 0.9,
			map[string]any{"thinking": nil, "temperature": 0.5, "top_k": 40.0, "top_p": 0.9}},
		{"no reasoning", nil, 1000, 0.9, map[string]any{"thinking": nil, "temperature": 0.5}},
	}
	for _, tt := range tests {
		req := &unified.Request{Model: "m", Messages: []unified.Message{user("x")}, MaxTokens: ptr(tt.maxTokens),
			Temperature: ptr(0.5), TopK: ptr(40), TopP: ptr(tt.topP), Reasoning: tt.reasoning}
		got := encode(t, p, req, modeGenerate)
		for k, want := range tt.want {
			v, ok := got[k]
			if want == nil && ok {
				t.Errorf("%s: %s = %v, want it absent", tt.name, k, v)
			} else if want != nil && !reflect.DeepEqual(v, want) {
				t.Errorf("%s: %s = %v, want %v", tt.name, k, v, want)
			}
		}
	}
}
