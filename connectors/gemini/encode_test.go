package gemini

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func ptr[T any](v T) *T { return &v }

var weather = unified.Tool{Name: "get_weather", Description: "Current weather for a city",
	Parameters: jsontext.Value(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`)}

func TestEncodeFullRequest(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	signatures.produced("CpgCAdHt") // as if Gemini had given it
	e.safety = []SafetySetting{{Category: "HARM_CATEGORY_DANGEROUS_CONTENT", Threshold: "BLOCK_ONLY_HIGH"}}
	req := &unified.Request{
		Model: "gemini-2.5-flash",
		Messages: []unified.Message{
			{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("Answer briefly.")}},
			{Role: unified.RoleUser, Content: []unified.Part{
				unified.Text("What's in this image and what's the weather there?"),
				{Type: unified.PartImage, MIMEType: "image/png", Data: "iVBORw0KGgo="},
			}},
			{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`, Signature: "CpgCAdHt"}}},
			{Role: unified.RoleTool, ToolCallID: "call_1", Content: []unified.Part{unified.Text("18°C, cloudy")}},
			{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("Use Celsius.")}},
		},
		Tools:       []unified.Tool{weather},
		ToolChoice:  &unified.ToolChoice{Mode: unified.ToolChoiceAuto},
		Temperature: ptr(0.7), TopP: ptr(0.95), TopK: ptr(40), MaxTokens: ptr(1024),
		Stop: []string{"\n\nUser:"}, Seed: ptr(int64(42)),
	}
	b, err := e.encodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, b, `{
		"systemInstruction": {"parts": [{"text": "Answer briefly."}, {"text": "Use Celsius."}]},
		"contents": [
			{"role": "user", "parts": [
				{"text": "What's in this image and what's the weather there?"},
				{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
			{"role": "model", "parts": [
				{"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "CpgCAdHt"}]},
			{"role": "user", "parts": [
				{"functionResponse": {"id": "call_1", "name": "get_weather", "response": {"output": "18°C, cloudy"}}}]}
		],
		"generationConfig": {"temperature": 0.7, "topP": 0.95, "topK": 40, "candidateCount": 1, "maxOutputTokens": 1024,
			"stopSequences": ["\n\nUser:"], "seed": 42},
		"tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Current weather for a city",
			"parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}],
		"toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
		"safetySettings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"}]
	}`)
}

func TestEncodeTurns(t *testing.T) {
	t.Parallel()
	calls := []unified.ToolCall{
		{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`},
		{ID: "call_b", Name: "get_weather", Arguments: `{"city":"Tokyo"}`},
	}
	tests := []struct {
		name string
		msgs []unified.Message
		want string // the contents array
	}{
		{
			name: "consecutive user turns merge, empty text parts and empty turns vanish",
			msgs: []unified.Message{
				userText("Hello"), {Role: unified.RoleUser, Content: []unified.Part{unified.Text("")}}, userText("again"),
				{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("")}},
				{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("Hi!")}},
				{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text(" How can I help?")}},
			},
			want: `[{"role":"user","parts":[{"text":"Hello"},{"text":"again"}]},{"role":"model","parts":[{"text":"Hi!"},{"text":" How can I help?"}]}]`,
		},
		{
			name: "parallel calls: one model turn, the results of both in one user turn, user text in its own turn",
			msgs: []unified.Message{
				userText("Weather in Paris and Tokyo?"),
				{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("Checking.")}, ToolCalls: calls},
				{Role: unified.RoleTool, ToolCallID: "call_a", Content: []unified.Part{unified.Text("18°C")}},
				{Role: unified.RoleTool, ToolCallID: "call_b", Content: []unified.Part{unified.Text("no data")}, IsError: true},
				userText("And tomorrow?"),
			},
			want: `[{"role":"user","parts":[{"text":"Weather in Paris and Tokyo?"}]},
				{"role":"model","parts":[{"text":"Checking."},
					{"functionCall":{"id":"call_a","name":"get_weather","args":{"city":"Paris"}}},
					{"functionCall":{"id":"call_b","name":"get_weather","args":{"city":"Tokyo"}}}]},
				{"role":"user","parts":[
					{"functionResponse":{"id":"call_a","name":"get_weather","response":{"output":"18°C"}}},
					{"functionResponse":{"id":"call_b","name":"get_weather","response":{"error":"no data"}}}]},
				{"role":"user","parts":[{"text":"And tomorrow?"}]}]`,
		},
		{
			name: "a call the client never answered is dropped unless it ends the conversation",
			msgs: []unified.Message{
				userText("Paris?"),
				{Role: unified.RoleAssistant, ToolCalls: calls[:1]},
				userText("Never mind, Tokyo?"),
				{Role: unified.RoleAssistant, ToolCalls: calls[1:]},
			},
			want: `[{"role":"user","parts":[{"text":"Paris?"},{"text":"Never mind, Tokyo?"}]},
				{"role":"model","parts":[{"functionCall":{"id":"call_b","name":"get_weather","args":{"city":"Tokyo"}}}]}]`,
		},
		{
			name: "no-argument calls get {}, results with media keep the responses first",
			msgs: []unified.Message{
				userText("Screenshot please"),
				{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "c1", Name: "shot", Arguments: ""}, {ID: "c2", Name: "shot", Arguments: "{}"}}},
				{Role: unified.RoleTool, ToolCallID: "c1", Content: []unified.Part{unified.Text("taken"), {Type: unified.PartImage, MIMEType: "image/png", Data: "AAAA"}}},
				{Role: unified.RoleTool, ToolCallID: "c2", Content: []unified.Part{unified.Text("taken too")}},
			},
			want: `[{"role":"user","parts":[{"text":"Screenshot please"}]},
				{"role":"model","parts":[{"functionCall":{"id":"c1","name":"shot","args":{}}},{"functionCall":{"id":"c2","name":"shot","args":{}}}]},
				{"role":"user","parts":[
					{"functionResponse":{"id":"c1","name":"shot","response":{"output":"taken"}}},
					{"functionResponse":{"id":"c2","name":"shot","response":{"output":"taken too"}}},
					{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}]`,
		},
		{
			name: "a reasoning signature goes back on the model turn's first text part",
			msgs: []unified.Message{
				userText("Hi"),
				{Role: unified.RoleAssistant, Content: []unified.Part{
					{Type: unified.PartThinking, Text: "The user greets me.", Signature: "c2lnbmVk"},
					{Type: unified.PartRedactedThinking, Text: "opaque"},
					unified.Text("Hello!"),
				}},
				userText("Bye"),
			},
			want: `[{"role":"user","parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello!","thoughtSignature":"c2lnbmVk"}]},
				{"role":"user","parts":[{"text":"Bye"}]}]`,
		},
		{
			name: "signatures Gemini did not give (Claude's, after a switch of model) are left out",
			msgs: []unified.Message{
				userText("Hi"),
				{Role: unified.RoleAssistant, Content: []unified.Part{
					{Type: unified.PartThinking, Text: "Claude thought.", Signature: "Q2xhdWRlU2lnbmF0dXJl"},
					unified.Text("Hello!"),
				}, ToolCalls: []unified.ToolCall{{ID: "toolu_1", Name: "f", Arguments: `{}`, Signature: "Q2xhdWRlU2lnbmF0dXJl"}}},
				{Role: unified.RoleTool, ToolCallID: "toolu_1", Content: []unified.Part{unified.Text("ok")}},
			},
			want: `[{"role":"user","parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Hello!"},{"functionCall":{"id":"toolu_1","name":"f","args":{}}}]},
				{"role":"user","parts":[{"functionResponse":{"id":"toolu_1","name":"f","response":{"output":"ok"}}}]}]`,
		},
		{
			name: "media: inline data, gs:// and https files with a MIME type from the extension or the kind",
			msgs: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{
				unified.Text("Compare these."),
				{Type: unified.PartImage, URL: "https://example.com/cat.webp", Detail: "low"},
				{Type: unified.PartImage, URL: "https://example.com/photo?id=7"},
				{Type: unified.PartFile, URL: "gs://bucket/report.pdf"},
				{Type: unified.PartVideo, URL: "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
				{Type: unified.PartAudio, MIMEType: "audio/wav", Data: "UklGRg=="},
				{Type: unified.PartFile, MIMEType: "application/pdf", Data: "JVBERi0=", Filename: "a.pdf"},
			}}},
			want: `[{"role":"user","parts":[{"text":"Compare these."},
				{"fileData":{"mimeType":"image/webp","fileUri":"https://example.com/cat.webp"}},
				{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/photo?id=7"}},
				{"fileData":{"mimeType":"application/pdf","fileUri":"gs://bucket/report.pdf"}},
				{"fileData":{"mimeType":"video/mp4","fileUri":"https://www.youtube.com/watch?v=dQw4w9WgXcQ"}},
				{"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}},
				{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}}]}]`,
		},
	}
	e := testEngine(t)
	signatures.produced("c2lnbmVk") // as if Gemini had given it
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := e.encodeRequest(&unified.Request{Model: "m", Messages: tt.msgs})
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, mustMarshal(t, decodeJSON(t, b)["contents"]), tt.want)
		})
	}
}

func TestEncodeRestoresRememberedSignature(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	signatures.remember("call_restore_1", "get_weather", "c2lnLTE=")
	msgs := []unified.Message{
		userText("Paris?"),
		{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{
			{ID: "call_restore_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
			// same id, other function: not this call's signature
		}},
		{Role: unified.RoleTool, ToolCallID: "call_restore_1", Content: []unified.Part{unified.Text("18°C")}},
		userText("Thanks. Paris again?"),
		{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "call_restore_1", Name: "other_tool", Arguments: `{}`}}},
	}
	body := encode(t, e, &unified.Request{Model: "m", Messages: msgs})
	if got := at(t, body, "contents", 1, "parts", 0, "thoughtSignature"); got != "c2lnLTE=" {
		t.Errorf("remembered signature not restored: %v", got)
	}
	if got := at(t, body, "contents", 4, "parts", 0, "thoughtSignature"); got != nil {
		t.Errorf("signature restored onto a call of another function: %v", got)
	}
}

func TestEncodeTools(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	noArgs := unified.Tool{Name: "list_files", Parameters: jsontext.Value(`{"type":"object","properties":{},"required":[]}`)}
	tests := []struct {
		name   string
		choice *unified.ToolChoice
		want   string
	}{
		{"none", &unified.ToolChoice{Mode: unified.ToolChoiceNone}, `{"functionCallingConfig":{"mode":"NONE"}}`},
		{"required", &unified.ToolChoice{Mode: unified.ToolChoiceRequired}, `{"functionCallingConfig":{"mode":"ANY"}}`},
		{"named", &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: "list_files"}, `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["list_files"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := encode(t, e, &unified.Request{Model: "m", Messages: []unified.Message{userText("hi")},
				Tools: []unified.Tool{weather, noArgs}, ToolChoice: tt.choice})
			jsonEqual(t, mustMarshal(t, body["toolConfig"]), tt.want)
			decl := at(t, body, "tools", 0, "functionDeclarations", 1).(map[string]any)
			if _, ok := decl["parameters"]; ok || decl["name"] != "list_files" {
				t.Errorf("a tool without parameters must have no parameters: %v", decl)
			}
		})
	}
	body := encode(t, e, &unified.Request{Model: "m", Messages: []unified.Message{userText("hi")}})
	if body["tools"] != nil || body["toolConfig"] != nil {
		t.Errorf("tools sent without tools: %v", body)
	}
}

func TestEncodeResponseFormat(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	tests := []struct{ rf, want string }{
		{`{"type":"text"}`, `{"candidateCount":1}`},
		{`{"type":"json_object"}`, `{"candidateCount":1,"responseMimeType":"application/json"}`},
		{`{"type":"json_schema","json_schema":{"name":"city","strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"],"additionalProperties":false}}}`,
			`{"candidateCount":1,"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"name":{"type":"STRING"}},"required":["name"]}}`},
	}
	for _, tt := range tests {
		body := encode(t, e, &unified.Request{Model: "m", Messages: []unified.Message{userText("hi")}, ResponseFormat: jsontext.Value(tt.rf)})
		jsonEqual(t, mustMarshal(t, body["generationConfig"]), tt.want)
	}
}

func TestEncodeOptions(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	e.includeThoughts = true
	body := encode(t, e, &unified.Request{Model: "m", Messages: []unified.Message{userText("hi")}, Seed: ptr(int64(1) << 40)})
	jsonEqual(t, mustMarshal(t, body["generationConfig"]), `{"candidateCount":1,"seed":0,"thinkingConfig":{"includeThoughts":true}}`)
}

func TestEncodeReasoning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reasoning *unified.Reasoning
		include   bool
		want      string
	}{
		{nil, false, `{"candidateCount":1}`},
		{nil, true, `{"candidateCount":1,"thinkingConfig":{"includeThoughts":true}}`},
		{&unified.Reasoning{Effort: "low"}, false, `{"candidateCount":1,"thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024}}`},
		{&unified.Reasoning{Effort: "medium"}, false, `{"candidateCount":1,"thinkingConfig":{"includeThoughts":true,"thinkingBudget":8192}}`},
		{&unified.Reasoning{BudgetTokens: 3000}, false, `{"candidateCount":1,"thinkingConfig":{"includeThoughts":true,"thinkingBudget":3000}}`},
		{&unified.Reasoning{Effort: "none"}, false, `{"candidateCount":1,"thinkingConfig":{"thinkingBudget":0}}`},
	}
	for _, tt := range tests {
		e := testEngine(t)
		e.includeThoughts = tt.include
		body := encode(t, e, &unified.Request{Model: "m", Messages: []unified.Message{userText("hi")}, Reasoning: tt.reasoning})
		jsonEqual(t, mustMarshal(t, body["generationConfig"]), tt.want)
	}
}

func TestEncodeErrors(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	call := unified.Message{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "c1", Name: "get_weather", Arguments: `["Paris"]`}}}
	tests := []struct {
		name, param, msg string
		req              unified.Request
	}{
		{"n > 1", "n", "n must be 1", unified.Request{N: 2, Messages: []unified.Message{userText("hi")}}},
		{"too many stop sequences", "stop", "at most 5", unified.Request{Stop: strings.Split("a b c d e f", " "), Messages: []unified.Message{userText("hi")}}},
		{"only system messages", "messages", "no user or assistant content", unified.Request{Messages: []unified.Message{{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("x")}}}}},
		{"result of an unknown call", "messages[1].tool_call_id", `"nope" answers no tool call`, unified.Request{Messages: []unified.Message{
			userText("hi"), {Role: unified.RoleTool, ToolCallID: "nope", Content: []unified.Part{unified.Text("x")}}}}},
		{"arguments that are not an object", "messages[1].tool_calls[0]", "not a JSON object", unified.Request{Messages: []unified.Message{
			userText("hi"), call, {Role: unified.RoleTool, ToolCallID: "c1"}}}},
		{"bad tool name", "tools[0].name", "not valid", unified.Request{Messages: []unified.Message{userText("hi")},
			Tools: []unified.Tool{{Name: "1-starts-with-a-digit"}}}},
		{"unresolvable $ref", "tools[0].parameters", `tool "t" cannot be sent to provider vertex: properties.a: $ref "#/$defs/X" does not resolve`, unified.Request{Messages: []unified.Message{userText("hi")},
			Tools: []unified.Tool{{Name: "t", Parameters: jsontext.Value(`{"type":"object","properties":{"a":{"$ref":"#/$defs/X"}}}`)}}}},
		{"tool_choice naming an unknown tool", "tool_choice", "not among the tools", unified.Request{Messages: []unified.Message{userText("hi")},
			Tools: []unified.Tool{weather}, ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: "nope"}}},
		{"unknown response_format", "response_format.type", "unsupported", unified.Request{Messages: []unified.Message{userText("hi")},
			ResponseFormat: jsontext.Value(`{"type":"yaml"}`)}},
		{"media URL with another scheme", "messages[0].content[0]", "not a gs://", unified.Request{Messages: []unified.Message{
			{Role: unified.RoleUser, Content: []unified.Part{{Type: unified.PartImage, URL: "file:///etc/passwd"}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.req.Model = "m"
			_, err := e.encodeRequest(&tt.req)
			ue := asUnified(t, err)
			if ue.Kind != unified.KindInvalidRequest || ue.Param != tt.param || !strings.Contains(ue.Message, tt.msg) {
				t.Errorf("error = %v %q %q, want 400 %q containing %q", ue.Kind, ue.Param, ue.Message, tt.param, tt.msg)
			}
		})
	}
}

// BenchmarkEncodeAgentTurn encodes a typical agent request: a system
// prompt, 20 tools (their schemas cached after the first turn) and a
// conversation with a tool round trip.
func BenchmarkEncodeAgentTurn(b *testing.B) {
	e := &engine{name: "vertex"}
	tools := make([]unified.Tool, 20)
	for i := range tools {
		tools[i] = unified.Tool{Name: "tool_" + string(rune('a'+i)), Description: "Does something useful with a file.",
			Parameters: jsontext.Value(`{"type":"object","properties":{"path":{"type":"string","description":"File path"},` +
				`"mode":{"enum":["read","write"]},"limit":{"anyOf":[{"type":"integer"},{"type":"null"}],"default":null}},` +
				`"required":["path"],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}`)}
	}
	req := &unified.Request{Model: "gemini-2.5-flash", Tools: tools, Messages: []unified.Message{
		{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("You are a coding agent.")}},
		userText("Read main.go"),
		{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "call_1", Name: "tool_a", Arguments: `{"path":"main.go"}`}}},
		{Role: unified.RoleTool, ToolCallID: "call_1", Content: []unified.Part{unified.Text(strings.Repeat("package main\n", 100))}},
	}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.encodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}
