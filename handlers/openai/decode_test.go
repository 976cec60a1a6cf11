package openai

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func ptr[T any](v T) *T { return &v }

func user(parts ...unified.Part) unified.Message {
	return unified.Message{Role: unified.RoleUser, Content: parts}
}

func TestDecodeRequest(t *testing.T) {
	t.Parallel()
	hi := []unified.Message{user(unified.Text("Hi"))}
	const msgs = `"messages":[{"role":"user","content":"Hi"}]`
	tests := []struct {
		name string
		body string
		want *unified.Request
	}{
		{
			name: "string content, system and name",
			body: `{"model":"gpt-4o","messages":[{"role":"system","content":"Answer briefly."},{"role":"user","name":"alice","content":"Hi"}]}`,
			want: &unified.Request{Model: "gpt-4o", Messages: []unified.Message{
				{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("Answer briefly.")}},
				{Role: unified.RoleUser, Name: "alice", Content: []unified.Part{unified.Text("Hi")}},
			}},
		},
		{
			name: "developer is a system message",
			body: `{"model":"o3","messages":[{"role":"developer","content":"Be terse."},{"role":"user","content":"Hi"}]}`,
			want: &unified.Request{Model: "o3", Messages: []unified.Message{
				{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("Be terse.")}},
				user(unified.Text("Hi")),
			}},
		},
		{
			name: "content parts",
			body: `{"model":"gpt-4o","messages":[{"role":"user","content":[
				{"type":"text","text":"What is in this picture?"},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
				{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}},
				{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}},
				{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
				{"type":"input_audio","input_audio":{"data":"SUQz","format":"mp3"}},
				{"type":"video_url","video_url":{"url":"https://example.com/v.mp4"}}
			]}]}`,
			want: &unified.Request{Model: "gpt-4o", Messages: []unified.Message{user(
				unified.Text("What is in this picture?"),
				unified.Part{Type: unified.PartImage, MIMEType: "image/png", Data: "iVBORw0KGgo=", Detail: "high"},
				unified.Part{Type: unified.PartImage, URL: "https://example.com/cat.png"},
				unified.Part{Type: unified.PartFile, MIMEType: "application/pdf", Data: "JVBERi0=", Filename: "a.pdf"},
				unified.Part{Type: unified.PartAudio, MIMEType: "audio/wav", Data: "UklGRg=="},
				unified.Part{Type: unified.PartAudio, MIMEType: "audio/mpeg", Data: "SUQz"},
				unified.Part{Type: unified.PartVideo, URL: "https://example.com/v.mp4"},
			)}},
		},
		{
			name: "tool round trip",
			body: `{"model":"gpt-4o","messages":[
				{"role":"user","content":"Weather in Paris and Tokyo?"},
				{"role":"assistant","content":null,"tool_calls":[
					{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"call_2","type":"function","function":{"name":"get_time","arguments":""}}]},
				{"role":"tool","tool_call_id":"call_1","content":"18C"},
				{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"12:00"}]},
				{"role":"assistant","content":"Paris: 18C."}
			],
			"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}}],
			"tool_choice":"required","parallel_tool_calls":false}`,
			want: &unified.Request{Model: "gpt-4o",
				Messages: []unified.Message{
					user(unified.Text("Weather in Paris and Tokyo?")),
					{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{
						{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
						{ID: "call_2", Name: "get_time", Arguments: "{}"},
					}},
					{Role: unified.RoleTool, ToolCallID: "call_1", Content: []unified.Part{unified.Text("18C")}},
					{Role: unified.RoleTool, ToolCallID: "call_2", Content: []unified.Part{unified.Text("12:00")}},
					{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("Paris: 18C.")}},
				},
				Tools: []unified.Tool{{Name: "get_weather", Description: "Current weather",
					Parameters: jsontext.Value(`{"type":"object","properties":{"city":{"type":"string"}}}`), Strict: ptr(true)}},
				ToolChoice:        &unified.ToolChoice{Mode: unified.ToolChoiceRequired},
				ParallelToolCalls: ptr(false),
			},
		},
		{
			name: "max_completion_tokens preferred over max_tokens",
			body: `{"model":"m",` + msgs + `,"max_tokens":10,"max_completion_tokens":20}`,
			want: &unified.Request{Model: "m", Messages: hi, MaxTokens: ptr(20)},
		},
		{
			name: "max_completion_tokens preferred, other order",
			body: `{"model":"m",` + msgs + `,"max_completion_tokens":20,"max_tokens":10}`,
			want: &unified.Request{Model: "m", Messages: hi, MaxTokens: ptr(20)},
		},
		{
			name: "max_tokens alone",
			body: `{"model":"m",` + msgs + `,"max_tokens":10}`,
			want: &unified.Request{Model: "m", Messages: hi, MaxTokens: ptr(10)},
		},
		{
			name: "stop as a string",
			body: `{"model":"m",` + msgs + `,"stop":"END"}`,
			want: &unified.Request{Model: "m", Messages: hi, Stop: []string{"END"}},
		},
		{
			name: "stop as an array",
			body: `{"model":"m",` + msgs + `,"stop":["a","b"]}`,
			want: &unified.Request{Model: "m", Messages: hi, Stop: []string{"a", "b"}},
		},
		{
			name: "stop null",
			body: `{"model":"m",` + msgs + `,"stop":null}`,
			want: &unified.Request{Model: "m", Messages: hi},
		},
		{
			name: "tool_choice auto",
			body: `{"model":"m",` + msgs + `,"tool_choice":"auto"}`,
			want: &unified.Request{Model: "m", Messages: hi, ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceAuto}},
		},
		{
			name: "tool_choice none",
			body: `{"model":"m",` + msgs + `,"tool_choice":"none"}`,
			want: &unified.Request{Model: "m", Messages: hi, ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceNone}},
		},
		{
			name: "tool_choice object",
			body: `{"model":"m",` + msgs + `,"tool_choice":{"type":"function","function":{"name":"get_weather"}}}`,
			want: &unified.Request{Model: "m", Messages: hi, ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: "get_weather"}},
		},
		{
			name: "stream with include_usage",
			body: `{"model":"m",` + msgs + `,"stream":true,"stream_options":{"include_usage":true}}`,
			want: &unified.Request{Model: "m", Messages: hi, Stream: true, IncludeUsage: true},
		},
		{
			name: "stream without stream_options",
			body: `{"model":"m",` + msgs + `,"stream":true}`,
			want: &unified.Request{Model: "m", Messages: hi, Stream: true},
		},
		{
			name: "include_usage false",
			body: `{"model":"m",` + msgs + `,"stream":true,"stream_options":{"include_usage":false}}`,
			want: &unified.Request{Model: "m", Messages: hi, Stream: true},
		},
		{
			name: "sampling and misc",
			body: `{"model":"m",` + msgs + `,"temperature":0.2,"top_p":0.9,"top_k":40,"seed":42,"n":2,"user":"u-1","response_format":{"type":"json_object"}}`,
			want: &unified.Request{Model: "m", Messages: hi, Temperature: ptr(0.2), TopP: ptr(0.9), TopK: ptr(40),
				Seed: ptr(int64(42)), N: 2, User: "u-1", ResponseFormat: jsontext.Value(`{"type":"json_object"}`)},
		},
		{
			name: "null and empty content",
			body: `{"model":"m","messages":[{"role":"user","content":""},{"role":"user","content":null},{"role":"user","content":[]}]}`,
			want: &unified.Request{Model: "m", Messages: []unified.Message{
				{Role: unified.RoleUser}, {Role: unified.RoleUser}, {Role: unified.RoleUser, Content: []unified.Part{}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Dialect{}.DecodeRequest([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			normalize(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("DecodeRequest =\n%#v\nwant\n%#v", got, tt.want)
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

// normalize clears what the comparison cannot see through: empty
// Extensions (the decoder may leave a nil map) and empty slices the
// decoder allocates with make.
func normalize(r *unified.Request) {
	stripOrigins(r)
	if len(r.Extensions) == 0 {
		r.Extensions = nil
	}
	if len(r.Stop) == 0 {
		r.Stop = nil
	}
	if len(r.ResponseFormat) == 0 {
		r.ResponseFormat = nil
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	t.Parallel()
	const msgs = `"messages":[{"role":"user","content":"Hi"}]`
	tests := []struct {
		name  string
		body  string
		param string // "" when the error names no field
		text  string // substring of the message
	}{
		{"malformed JSON", `{"model":"m",`, "", "not valid JSON"},
		{"not JSON at all", `hello`, "", "not valid JSON"},
		{"empty body", ``, "", "not valid JSON"},
		{"array body", `[]`, "", ""},
		{"duplicate member", `{"model":"m","model":"n",` + msgs + `}`, "", ""},
		{"missing model", `{` + msgs + `}`, "model", "model"},
		{"empty model", `{"model":"",` + msgs + `}`, "model", "model"},
		{"model not a string", `{"model":5,` + msgs + `}`, "model", "string"},
		{"missing messages", `{"model":"m"}`, "messages", "messages"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", "messages"},
		{"messages not an array", `{"model":"m","messages":{}}`, "messages", "array"},
		{"content is a number", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content", "string or an array"},
		{"content is an object", `{"model":"m","messages":[{"role":"user","content":"ok"},{"role":"user","content":{"text":"x"}}]}`, "messages[1].content", ""},
		{"text part not a string", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":5}]}]}`, "messages[0].content[0].text", "string"},
		{"temperature not a number", `{"model":"m",` + msgs + `,"temperature":"hot"}`, "temperature", "number"},
		{"stop not a string or array", `{"model":"m",` + msgs + `,"stop":5}`, "stop", ""},
		{"unknown role", `{"model":"m","messages":[{"role":"bot","content":"x"}]}`, "messages[0].role", "bot"},
		{"function role", `{"model":"m",` + msgs[:len(msgs)-1] + `,{"role":"function","name":"f","content":"x"}]}`, "messages[1].role", "function"},
		{"missing role", `{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role", "role"},
		{"tool without tool_call_id", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","content":"r"}]}`, "messages[2].tool_call_id", "tool_call_id"},
		{"tool_calls on a user message", `{"model":"m","messages":[{"role":"user","content":"x","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls", ""},
		{"tool call without id", `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "messages[0].tool_calls[0]", ""},
		{"tool call without name", `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}`, "messages[0].tool_calls[0]", ""},
		{"bad data URI", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"data:image/png,AAAA"}}]}]}`, "messages[0].content[1]", "data URI"},
		{"image without url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, "messages[0].content[0]", "image_url.url"},
		{"image in an assistant message", `{"model":"m","messages":[{"role":"assistant","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0]", ""},
		{"text part without text", `{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content[0]", ""},
		{"unknown part type", `{"model":"m","messages":[{"role":"user","content":[{"type":"hologram"}]}]}`, "messages[0].content[0]", "hologram"},
		{"file by id", `{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0]", "file_data"},
		{"audio without data", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"format":"wav"}}]}]}`, "messages[0].content[0]", ""},
		{"tool_choice unknown string", `{"model":"m",` + msgs + `,"tool_choice":"always"}`, "tool_choice", ""},
		{"tool_choice number", `{"model":"m",` + msgs + `,"tool_choice":1}`, "tool_choice", ""},
		{"tool_choice object without name", `{"model":"m",` + msgs + `,"tool_choice":{"type":"function","function":{}}}`, "tool_choice", ""},
		{"tool_choice object of another type", `{"model":"m",` + msgs + `,"tool_choice":{"type":"web_search","function":{"name":"f"}}}`, "tool_choice", ""},
		{"tool of another type", `{"model":"m",` + msgs + `,"tools":[{"type":"web_search","function":{"name":"f"}}]}`, "tools[0].type", "web_search"},
		{"tool without name", `{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{}}]}`, "tools[1].function.name", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Dialect{}.DecodeRequest([]byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeRequest = %+v, want an error", got)
			}
			var ue *unified.Error
			if !errors.As(err, &ue) {
				t.Fatalf("err = %T %v, want *unified.Error", err, err)
			}
			if ue.Kind != unified.KindInvalidRequest || ue.Status() != 400 {
				t.Errorf("kind = %d status %d, want KindInvalidRequest 400", ue.Kind, ue.Status())
			}
			if ue.Param != tt.param {
				t.Errorf("param = %q, want %q (%v)", ue.Param, tt.param, ue)
			}
			if !strings.Contains(ue.Message, tt.text) {
				t.Errorf("message %q does not contain %q", ue.Message, tt.text)
			}
		})
	}
}

// Regression: unknown top-level members never reach Extensions, because
// openaiwire.ChatRequest.Unknown (internal/openaiwire/wire.go:34) is tagged
// `json:",unknown"`, which go-json-experiment v1.27.2 ignores (the option is
// now `embed`). OpenRouter extras (provider, models, reasoning, plugins) and
// newer OpenAI fields (reasoning_effort, metadata, ...) are silently
// dropped, while a client member literally named "Unknown" is taken as the
// extensions map. Fix: tag the field `json:",embed"`.
func TestDecodeRequestExtensions(t *testing.T) {
	t.Parallel()
	body := `{"model":"m","messages":[{"role":"user","content":"Hi"}],
		"reasoning_effort":"low","provider":{"order":["Anthropic"]},"models":["a","b"]}`
	got, err := Dialect{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"provider": `{"order":["Anthropic"]}`,
		"models":   `["a","b"]`,
	}
	// reasoning_effort is modelled, for connectors of other dialects.
	if got.Reasoning == nil || *got.Reasoning != (unified.Reasoning{Effort: "low"}) {
		t.Errorf("Reasoning = %+v, want effort low", got.Reasoning)
	}
	if got.ExtensionsDialect != "openai" {
		t.Errorf("ExtensionsDialect = %q, want openai", got.ExtensionsDialect)
	}
	if len(got.Extensions) != len(want) {
		t.Errorf("Extensions = %v, want %d members", got.Extensions, len(want))
	}
	for k, v := range want {
		if string(got.Extensions[k]) != v {
			t.Errorf("Extensions[%q] = %s, want %s", k, got.Extensions[k], v)
		}
	}

	// Known members never land in Extensions, and a request without
	// unknown members has none.
	plain, err := Dialect{}.DecodeRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"Hi"}],"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(plain.Extensions) != 0 || plain.ExtensionsDialect != "" {
		t.Errorf("Extensions = %v (%q) for a request without unknown members", plain.Extensions, plain.ExtensionsDialect)
	}
	odd, err := Dialect{}.DecodeRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"Hi"}],"Unknown":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(odd.Extensions["Unknown"]) != `{"x":1}` || odd.Extensions["x"] != nil {
		t.Errorf("a member named Unknown gave Extensions = %v", odd.Extensions)
	}
}
