package openai

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// The stream decodes every chunk into one reused value: nothing of a
// chunk may leak into the next (text repeated, a finish or usage seen
// twice).
func TestStreamChunkReuse(t *testing.T) {
	raw := strings.Join([]string{
		`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"m-up","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check"},"finish_reason":null}],"usage":null}`,
		`data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"reasoning_content":"thinking"},"finish_reason":null}]}`,
		`data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":2,"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"a\""}}]},"finish_reason":null}]}`,
		`data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":2,"function":{"arguments":":1}"}}]},"finish_reason":null}]}`,
		`data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`,
		`data: [DONE]`,
	}, "\n\n") + "\n\n"
	p := &OpenAI{}
	p.BaseURL = "http://127.0.0.1:1/v1"
	if err := p.setup("openai", "", false); err != nil {
		t.Fatal(err)
	}
	st := p.newStream(context.Background(), &http.Response{Body: io.NopCloser(strings.NewReader(raw))})
	var got []unified.Event
	for {
		ev, err := st.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	want := []unified.Event{
		{Type: unified.EventStart, ID: "chatcmpl-1", Name: "m-up"},
		{Type: unified.EventText, Text: "Let me check"},
		{Type: unified.EventReasoning, Text: "thinking"},
		{Type: unified.EventToolCallStart, Index: 0, ID: "call_a", Name: "f"},
		{Type: unified.EventToolCallDelta, Index: 0, Text: `{"a"`},
		{Type: unified.EventToolCallDelta, Index: 0, Text: ":1}"},
		{Type: unified.EventFinish, Finish: unified.FinishToolCalls},
		{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 5, OutputTokens: 7}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
