package gemini

import (
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func simpleRequest() *unified.Request {
	return &unified.Request{Model: "gemini-2.5-flash", Messages: []unified.Message{userText("Write a haiku.")}}
}

// streamEvents streams rep through a vertex provider and returns every
// event and the error that ended the stream (nil after io.EOF).
func streamEvents(t *testing.T, rep reply) ([]unified.Event, recorded, error) {
	t.Helper()
	u := newUpstream(t, rep)
	v := newExpress(t, u.URL, nil)
	st, err := v.Stream(context.Background(), simpleRequest())
	if err != nil {
		return nil, u.last(t), err
	}
	defer st.Close()
	var evs []unified.Event
	for {
		ev, err := st.Next()
		if errors.Is(err, io.EOF) {
			return evs, u.last(t), nil
		}
		if err != nil {
			return evs, u.last(t), err
		}
		evs = append(evs, ev)
	}
}

func generate(t *testing.T, rep reply) (*unified.Response, error) {
	t.Helper()
	u := newUpstream(t, rep)
	v := newExpress(t, u.URL, nil)
	return v.Generate(context.Background(), simpleRequest())
}

func TestStreamText(t *testing.T) {
	t.Parallel()
	evs, req, err := streamEvents(t, sseReply(fixture(t, "gemini_stream_text.sse")))
	if err != nil {
		t.Fatal(err)
	}
	if req.Path != "/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent" || req.Query != "alt=sse" {
		t.Errorf("stream URL = %s?%s", req.Path, req.Query)
	}
	if req.Header.Get("X-Goog-Api-Key") != testKey || req.Header.Get("Accept") != "text/event-stream" || req.Header.Get("Authorization") != "" {
		t.Errorf("headers = %v", req.Header)
	}
	want := []unified.Event{
		{Type: unified.EventStart, ID: "wP1uaM2bH9yW2PgP2uO3sQk", Name: "gemini-2.5-flash"},
		{Type: unified.EventText, Text: "Frost on the"},
		{Type: unified.EventText, Text: " window,\nthe kettle hums"},
		{Type: unified.EventText, Text: " a small song."},
		{Type: unified.EventFinish, Finish: unified.FinishStop},
		{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 9, OutputTokens: 53, ReasoningTokens: 38}},
	}
	if len(evs) != len(want) {
		t.Fatalf("events = %+v", evs)
	}
	for i := range want {
		if !reflect.DeepEqual(evs[i], want[i]) {
			t.Errorf("event %d = %+v, want %+v", i, evs[i], want[i])
		}
	}
}

func TestStreamFunctionCalls(t *testing.T) {
	t.Parallel()
	evs, _, err := streamEvents(t, sseReply(fixture(t, "gemini_stream_function_call.sse")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := unified.Collect(&unified.SliceStream{Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) != 2 || resp.Text() != "" {
		t.Fatalf("response = %+v", resp)
	}
	a, b := resp.ToolCalls[0], resp.ToolCalls[1]
	if a.Name != "get_weather" || a.Arguments != `{"city":"Paris","unit":"celsius"}` || b.Arguments != `{"city":"Tokyo","unit":"celsius"}` {
		t.Errorf("calls = %+v", resp.ToolCalls)
	}
	if !strings.HasPrefix(a.ID, "call_") || !strings.HasPrefix(b.ID, "call_") || a.ID == b.ID {
		t.Errorf("synthesized ids %q %q", a.ID, b.ID)
	}
	const sig = "CpgCAdHtim9kQ3xZr2vN8aLw0pT5yE1uB7sM4cF6gH2jK9dR3qW8eX1zV5nA0bY7tU4iO6lP2mS9fG3hJ8kD1cQ5"
	if a.Signature != sig || b.Signature != "" {
		t.Errorf("signatures %q %q", a.Signature, b.Signature)
	}
	if got := signatures.lookup(a.ID, "get_weather"); got != sig {
		t.Errorf("signature not remembered under the id handed out: %q", got)
	}
	if resp.Finish != unified.FinishToolCalls {
		t.Errorf("finish = %q: STOP after function calls must become tool_calls", resp.Finish)
	}
	if resp.Usage != (unified.Usage{InputTokens: 64, OutputTokens: 87, ReasoningTokens: 57}) {
		t.Errorf("usage = %+v", resp.Usage)
	}
}

func TestStreamCallsAcrossChunks(t *testing.T) {
	t.Parallel()
	// Gemini 3: ids given, one call per chunk, thoughts before them, and
	// the reasoning signature on an empty text part.
	body := `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Let me think.","thought":true}]}}],"responseId":"r3","modelVersion":"gemini-3-pro-preview"}

data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"id":"fc-1","name":"a","args":{}},"thoughtSignature":"U0lHMQ=="}]}}]}

data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"id":"fc-2","name":"b"}}]}}]}

data: {"candidates":[{"content":{"role":"model","parts":[{"text":"","thoughtSignature":"U0lHMg=="}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"thoughtsTokenCount":3,"cachedContentTokenCount":4,"toolUsePromptTokenCount":1,"totalTokenCount":11}}
`
	evs, _, err := streamEvents(t, sseReply([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	want := []unified.Event{
		{Type: unified.EventStart, ID: "r3", Name: "gemini-3-pro-preview"},
		{Type: unified.EventReasoning, Text: "Let me think."},
		{Type: unified.EventToolCallStart, Index: 0, ID: "fc-1", Name: "a", Signature: "U0lHMQ=="},
		{Type: unified.EventToolCallDelta, Index: 0, Text: "{}"},
		{Type: unified.EventToolCallStart, Index: 1, ID: "fc-2", Name: "b"},
		{Type: unified.EventToolCallDelta, Index: 1, Text: "{}"},
		{Type: unified.EventReasoningSignature, Text: "U0lHMg=="},
		{Type: unified.EventFinish, Finish: unified.FinishToolCalls},
		{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 6, OutputTokens: 5, CachedInput: 4, ReasoningTokens: 3}},
	}
	if len(evs) != len(want) {
		t.Fatalf("events = %+v", evs)
	}
	for i := range want {
		if !reflect.DeepEqual(evs[i], want[i]) {
			t.Errorf("event %d = %+v, want %+v", i, evs[i], want[i])
		}
	}
}

func TestStreamErrors(t *testing.T) {
	t.Parallel()
	first := `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Frost"}]}}]}` + "\n\n"
	tests := []struct {
		name, body string
		kind       unified.Kind
		msg        string
	}{
		{"error event", first + `data: {"error":{"code":429,"message":"Resource exhausted. Please try again later.","status":"RESOURCE_EXHAUSTED"}}` + "\n\n",
			unified.KindRateLimit, "Resource exhausted"},
		{"bare error line", first + `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}` + "\n",
			unified.KindOverloaded, "overloaded"},
		{"bare pretty-printed error", first + "{\n  \"error\": {\n    \"code\": 500,\n    \"message\": \"Internal error encountered.\",\n    \"status\": \"INTERNAL\"\n  }\n}\n",
			unified.KindUpstream, "Internal error"},
		{"ends without finishReason", first, unified.KindUpstream, "ended before it was complete"},
		{"unreadable chunk", first + "data: {not json\n\n", unified.KindUpstream, "unreadable"},
		{"malformed function call", first + `data: {"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL","finishMessage":"Malformed function call: print(x"}]}` + "\n\n",
			unified.KindUpstream, "MALFORMED_FUNCTION_CALL: Malformed function call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs, _, err := streamEvents(t, sseReply([]byte(tt.body)))
			ue := asUnified(t, err)
			if ue.Kind != tt.kind || !strings.Contains(ue.Message, tt.msg) {
				t.Errorf("error = %v %q, want %v containing %q", ue.Kind, ue.Message, tt.kind, tt.msg)
			}
			if len(evs) < 2 || evs[1].Text != "Frost" {
				t.Errorf("events before the error = %+v", evs)
			}
		})
	}
}

func TestGenerateText(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, jsonReply(200, fixture(t, "gemini_generate_nonstream.json")))
	v := newExpress(t, u.URL, nil)
	resp, err := v.Generate(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	if got := u.last(t); got.Path != "/v1/publishers/google/models/gemini-2.5-flash:generateContent" || got.Query != "" {
		t.Errorf("URL = %s?%s", got.Path, got.Query)
	}
	if resp.Text() != "Frost on the window,\nthe kettle hums a small song,\nmorning takes its time." || resp.Finish != unified.FinishStop {
		t.Errorf("response = %+v", resp)
	}
	if resp.Usage != (unified.Usage{InputTokens: 9, OutputTokens: 62, ReasoningTokens: 43}) {
		t.Errorf("usage = %+v (output = candidates + thoughts)", resp.Usage)
	}
}

func TestGenerateBlockedPrompt(t *testing.T) {
	t.Parallel()
	resp, err := generate(t, jsonReply(200, fixture(t, "gemini_generate_blocked_prompt.json")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Finish != unified.FinishContentFilter || resp.Text() != "" || len(resp.ToolCalls) != 0 || resp.Usage.InputTokens != 12 {
		t.Errorf("blocked prompt = %+v", resp)
	}
	// The same as a stream: one chunk, then the end.
	evs, _, err := streamEvents(t, sseReply([]byte("data: "+strings.Join(strings.Fields(string(fixture(t, "gemini_generate_blocked_prompt.json"))), " ")+"\n\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[1].Finish != unified.FinishContentFilter || evs[2].Usage.InputTokens != 12 {
		t.Errorf("blocked prompt stream = %+v", evs)
	}
}

func TestFinishReasons(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason string
		calls  bool
		want   unified.FinishReason
	}{
		{"STOP", false, unified.FinishStop},
		{"STOP", true, unified.FinishToolCalls},
		{"", true, unified.FinishToolCalls},
		{"MAX_TOKENS", false, unified.FinishLength},
		{"MAX_TOKENS", true, unified.FinishLength},
		{"SAFETY", false, unified.FinishContentFilter},
		{"RECITATION", false, unified.FinishContentFilter},
		{"BLOCKLIST", false, unified.FinishContentFilter},
		{"PROHIBITED_CONTENT", false, unified.FinishContentFilter},
		{"SPII", false, unified.FinishContentFilter},
		{"IMAGE_SAFETY", false, unified.FinishContentFilter},
		{"OTHER", false, unified.FinishStop},
		{"FINISH_REASON_UNSPECIFIED", false, unified.FinishStop},
		{"SOMETHING_NEW", false, unified.FinishStop},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			part := `{"text":"Hi"}`
			if tt.calls {
				part = `{"functionCall":{"name":"f","args":{"x":1}}}`
			}
			body := `{"candidates":[{"content":{"role":"model","parts":[` + part + `]},"finishReason":"` + tt.reason + `"}]}`
			if tt.reason == "" {
				body = `{"candidates":[{"content":{"role":"model","parts":[` + part + `]}}]}`
			}
			resp, err := generate(t, jsonReply(200, []byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Finish != tt.want {
				t.Errorf("finish = %q, want %q", resp.Finish, tt.want)
			}
		})
	}
	for _, reason := range []string{"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"} {
		_, err := generate(t, jsonReply(200, []byte(`{"candidates":[{"finishReason":"`+reason+`"}]}`)))
		if ue := asUnified(t, err); ue.Kind != unified.KindUpstream || !ue.Retryable || !strings.Contains(ue.Message, reason) {
			t.Errorf("%s: error = %+v", reason, ue)
		}
	}
	if _, err := generate(t, jsonReply(200, []byte(`{"usageMetadata":{"promptTokenCount":3}}`))); err == nil ||
		!strings.Contains(err.Error(), "without candidates") {
		t.Errorf("answer without candidates: %v", err)
	}
}

func TestGenerateUnreadable(t *testing.T) {
	t.Parallel()
	_, err := generate(t, reply{status: http.StatusOK, contentType: "text/html", body: []byte("<html>proxy</html>")})
	if ue := asUnified(t, err); ue.Kind != unified.KindUpstream || !strings.Contains(ue.Message, "unreadable") {
		t.Errorf("error = %+v", ue)
	}
}

// BenchmarkStreamChunk translates one streamed text chunk.
func BenchmarkStreamChunk(b *testing.B) {
	data := []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":" window,\nthe kettle hums"}]}}],"usageMetadata":{"trafficType":"ON_DEMAND"},"modelVersion":"gemini-2.5-flash","createTime":"2025-12-02T14:00:00.512344Z","responseId":"wP1uaM2bH9yW2PgP2uO3sQk"}`)
	t := translator{e: &engine{name: "vertex"}, started: true}
	push := func(unified.Event) {}
	b.ReportAllocs()
	for b.Loop() {
		var chunk generateResponse
		if err := json.Unmarshal(data, &chunk); err != nil {
			b.Fatal(err)
		}
		if err := t.chunk(&chunk, push); err != nil {
			b.Fatal(err)
		}
	}
}
