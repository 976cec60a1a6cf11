package echo

import (
	"context"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func user(text string) unified.Message {
	return unified.Message{Role: unified.RoleUser, Content: []unified.Part{unified.Text(text)}}
}

func TestAnswer(t *testing.T) {
	weather := unified.Tool{Name: "get_weather", Parameters: jsontext.Value(`{"type":"object","properties":{
		"city":{"type":"string"},"days":{"type":"integer"},"unit":{"type":"string","enum":["c","f"]},
		"tags":{"type":"array","items":{"type":"string"}},"opts":{"type":"object","properties":{"alerts":{"type":"boolean"}}},
		"note":{"type":["string","null"]}}}`)}
	other := unified.Tool{Name: "other"}
	max := 2
	tests := []struct {
		name       string
		req        unified.Request
		text       string
		call, args string
		finish     unified.FinishReason
	}{
		{"echoes the last user message", unified.Request{Messages: []unified.Message{user("first"), user("second one")}},
			"second one", "", "", unified.FinishStop},
		{"calls the first tool with arguments from its schema",
			unified.Request{Messages: []unified.Message{user("Paris")}, Tools: []unified.Tool{weather, other}},
			"", "get_weather", `{"city":"Paris","days":1,"note":"Paris","opts":{"alerts":true},"tags":["Paris"],"unit":"c"}`, unified.FinishToolCalls},
		{"calls the named tool", unified.Request{Messages: []unified.Message{user("x")}, Tools: []unified.Tool{weather, other},
			ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: "other"}},
			"", "other", "{}", unified.FinishToolCalls},
		{"tool_choice none answers text", unified.Request{Messages: []unified.Message{user("x")}, Tools: []unified.Tool{weather},
			ToolChoice: &unified.ToolChoice{Mode: unified.ToolChoiceNone}},
			"x", "", "", unified.FinishStop},
		{"a tool result is echoed back", unified.Request{Tools: []unified.Tool{weather}, Messages: []unified.Message{user("x"),
			{Role: unified.RoleTool, ToolCallID: "call_1", Content: []unified.Part{unified.Text("18°C")}}}},
			"18°C", "", "", unified.FinishStop},
		{"max tokens truncates on a rune boundary", unified.Request{MaxTokens: &max, Messages: []unified.Message{user("abcdefgé€xyz")}},
			"abcdefg", "", "", unified.FinishLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := answer(&tt.req)
			if resp.Text() != tt.text || resp.Finish != tt.finish {
				t.Errorf("text %q finish %q, want %q %q", resp.Text(), resp.Finish, tt.text, tt.finish)
			}
			if tt.call == "" {
				if len(resp.ToolCalls) != 0 {
					t.Errorf("unexpected tool calls %+v", resp.ToolCalls)
				}
			} else if len(resp.ToolCalls) != 1 || resp.ToolCalls[0].Name != tt.call || resp.ToolCalls[0].Arguments != tt.args {
				t.Errorf("tool calls %+v, want %s(%s)", resp.ToolCalls, tt.call, tt.args)
			}
			if resp.Usage.InputTokens != tt.req.EstimateInputTokens() || resp.Usage.OutputTokens == 0 {
				t.Errorf("usage %+v", resp.Usage)
			}
		})
	}
}

func TestStreamMatchesGenerate(t *testing.T) {
	req := &unified.Request{Messages: []unified.Message{user("the quick brown fox")}}
	e := &Echo{}
	whole, _ := e.Generate(context.Background(), req)
	st, err := e.Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := unified.Collect(st)
	if err != nil {
		t.Fatal(err)
	}
	if streamed.Text() != whole.Text() || streamed.Usage != whole.Usage || streamed.Finish != whole.Finish {
		t.Errorf("stream %+v, generate %+v", streamed, whole)
	}
	if got := strings.Join(words("a b  c"), "|"); got != "a |b | |c" {
		t.Errorf("words = %q", got)
	}
}

func TestChunkDelayHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e := &Echo{ChunkDelay: 3_600_000_000_000} // an hour
	st, _ := e.Stream(ctx, &unified.Request{Messages: []unified.Message{user("a b")}})
	if _, err := st.Next(); err != nil { // the first event is not delayed
		t.Fatal(err)
	}
	cancel()
	if _, err := st.Next(); err == nil {
		t.Fatal("a cancelled stream kept going")
	}
}
