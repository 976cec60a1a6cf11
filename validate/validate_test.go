package validate

import (
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func ptr[T any](v T) *T { return &v }

// conversation is a request as an agent sends it: a system prompt, tool
// declarations, a tool round trip and an image.
func conversation() *unified.Request {
	return &unified.Request{
		Model: "m", Temperature: ptr(0.7), TopP: ptr(0.9), MaxTokens: ptr(1024),
		Messages: []unified.Message{
			{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("Be brief.")}},
			{Role: unified.RoleUser, Content: []unified.Part{unified.Text("What is this?"),
				{Type: unified.PartImage, MIMEType: "image/png", Data: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="}}},
			{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "c1", Name: "look", Arguments: "{}"}, {ID: "c2", Name: "look", Arguments: "{}"}}},
			{Role: unified.RoleTool, ToolCallID: "c1", Content: []unified.Part{unified.Text("a pixel")}},
			{Role: unified.RoleTool, ToolCallID: "c2", Content: []unified.Part{unified.Text("a white pixel")}},
			{Role: unified.RoleAssistant, Content: []unified.Part{unified.Text("A pixel.")}},
		},
		Tools: []unified.Tool{{Name: "look", Parameters: jsontext.Value(`{"type":"object"}`)}},
	}
}

var limits = Limits{MaxMessages: 100, MaxTools: 128, MaxOutputTokens: 4096}

func TestRequestAcceptsAConversationWithoutAllocating(t *testing.T) {
	req := conversation()
	if p := Request(req, limits); p != nil {
		t.Fatalf("refused: %+v", p)
	}
	if n := testing.AllocsPerRun(100, func() { Request(req, limits) }); n != 0 {
		t.Errorf("Request allocates %v times", n)
	}
}

func TestRequestBuiltByCode(t *testing.T) {
	t.Parallel()
	// Without the counts a dialect records, the limits bound what the
	// request holds.
	req := conversation()
	if p := Request(req, Limits{MaxMessages: 5}); p == nil || p.At.Field != unified.FieldMessages {
		t.Errorf("6 messages under a limit of 5: %+v", p)
	}
	req.SentMessages = 5 // what a dialect would say after splitting
	if p := Request(req, Limits{MaxMessages: 5}); p != nil {
		t.Errorf("5 messages sent under a limit of 5: %+v", p)
	}

	req = conversation()
	req.Messages[1].Content[1].Data = "not base64!"
	p := Request(req, limits)
	if p == nil || p.At != (unified.Location{Field: unified.FieldPartData, Message: 1, Part: 1, Tool: -1}) {
		t.Errorf("bad image: %+v", p)
	}

	req = conversation()
	req.Messages[0].Role = "narrator"
	if p := Request(req, limits); p == nil || p.At.Field != unified.FieldRole || p.At.Message != 0 {
		t.Errorf("unknown role: %+v", p)
	}

	req = conversation()
	req.Messages[1].Content[1] = unified.Part{Type: unified.PartImage}
	if p := Request(req, limits); p == nil || p.At.Field != unified.FieldContent {
		t.Errorf("an image of nothing: %+v", p)
	}
}

func BenchmarkRequest(b *testing.B) {
	req := conversation()
	b.ReportAllocs()
	for b.Loop() {
		if Request(req, limits) != nil {
			b.Fatal("refused")
		}
	}
}
