package anthropic

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

var testMeta = &handlers.Meta{ID: "REQ1", Model: "claude-public", Created: time.Unix(1700000000, 0),
	Request: &unified.Request{ExtensionsDialect: Name}}

// writeStream runs events through the stream writer, then End (or Fail
// with failure), and returns the recorded response.
func writeStream(t *testing.T, m *handlers.Meta, events []unified.Event, failure *unified.Error) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	rec.Header().Set("X-Request-Id", m.ID)
	sw := Dialect{}.NewStream(rec, m)
	for _, ev := range events {
		if err := sw.Event(ev); err != nil {
			t.Fatal(err)
		}
	}
	if failure != nil {
		_ = sw.Fail(failure)
	} else if err := sw.End(); err != nil {
		t.Fatal(err)
	}
	return rec
}

// accumulate reads a recorded stream with the official SDK, as a client
// would, and returns the accumulated message and the SDK's error.
func accumulate(t *testing.T, rec *httptest.ResponseRecorder) (sdk.Message, []string, error) {
	t.Helper()
	res := rec.Result()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	stream := ssestream.NewStream[sdk.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
	var msg sdk.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("Accumulate(%s): %v", ev.RawJSON(), err)
		}
	}
	return msg, types, stream.Err()
}

// blocksJSON renders the accumulated content for comparison.
func blocksJSON(t *testing.T, msg sdk.Message) string {
	t.Helper()
	var out []map[string]any
	for _, b := range msg.Content {
		m := map[string]any{"type": b.Type}
		switch b.Type {
		case "text":
			m["text"] = b.Text
		case "thinking":
			m["thinking"], m["signature"] = b.Thinking, b.Signature
		case "tool_use":
			var in any
			if err := json.Unmarshal(b.Input, &in); err != nil {
				t.Fatalf("tool input %s is not JSON: %v", b.Input, err)
			}
			m["id"], m["name"], m["input"] = b.ID, b.Name, in
		}
		out = append(out, m)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func TestStreamTranslation(t *testing.T) {
	t.Parallel()
	withThinking := *testMeta
	withThinking.Request = &unified.Request{ExtensionsDialect: Name, Reasoning: &unified.Reasoning{BudgetTokens: 2048}, // as decoded
		Extensions: map[string]jsontext.Value{"thinking": jsontext.Value(`{"type":"enabled","budget_tokens":2048}`)}}
	tests := []struct {
		name   string
		meta   *handlers.Meta
		events []unified.Event
		blocks string
		stop   string
		usage  [4]int64 // input, cache write, cache read, output
		types  string
	}{
		{
			name: "text from an OpenAI-style upstream, usage known only at the end",
			events: []unified.Event{
				{Type: unified.EventStart, ID: "chatcmpl-1", Name: "gpt"},
				{Type: unified.EventText, Text: ""},
				{Type: unified.EventText, Text: "Hello"},
				{Type: unified.EventText, Text: " world"},
				{Type: unified.EventFinish, Finish: unified.FinishStop},
				{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 30, OutputTokens: 5, CachedInput: 10}},
			},
			blocks: `[{"text":"Hello world","type":"text"}]`,
			stop:   "end_turn",
			usage:  [4]int64{20, 0, 10, 5},
			types:  "message_start content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop",
		},
		{
			name: "no empty block for empty deltas; tool_use forced when a tool was called",
			events: []unified.Event{
				{Type: unified.EventStart, Usage: unified.Usage{InputTokens: 50}},
				{Type: unified.EventText, Text: ""},
				{Type: unified.EventToolCallStart, Index: 0, ID: "call_A", Name: "get_weather"},
				{Type: unified.EventToolCallDelta, Index: 0, Text: ""},
				{Type: unified.EventToolCallDelta, Index: 0, Text: `{"city":`},
				{Type: unified.EventToolCallDelta, Index: 0, Text: `"Paris"}`},
				{Type: unified.EventFinish, Finish: unified.FinishStop},
			},
			blocks: `[{"id":"call_A","input":{"city":"Paris"},"name":"get_weather","type":"tool_use"}]`,
			stop:   "tool_use",
			usage:  [4]int64{50, 0, 0, 0},
			types:  "message_start content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop",
		},
		{
			name: "text then interleaved tool calls: contiguous indexes, arguments never mixed",
			events: []unified.Event{
				{Type: unified.EventStart},
				{Type: unified.EventText, Text: "Checking both."},
				{Type: unified.EventToolCallStart, Index: 0, ID: "call_A", Name: "get_weather"},
				{Type: unified.EventToolCallDelta, Index: 0, Text: `{"ci`},
				{Type: unified.EventToolCallStart, Index: 1, ID: "call_B", Name: "get_time"},
				{Type: unified.EventToolCallDelta, Index: 1, Text: `{"tz":"Asia/Tokyo"}`},
				{Type: unified.EventToolCallDelta, Index: 0, Text: `ty":"Paris"}`},
				{Type: unified.EventToolCallStart, Index: 2, ID: "call_C", Name: "no_args"},
				{Type: unified.EventFinish, Finish: unified.FinishToolCalls},
				{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 7, OutputTokens: 9}},
			},
			blocks: `[{"text":"Checking both.","type":"text"},` +
				`{"id":"call_A","input":{"city":"Paris"},"name":"get_weather","type":"tool_use"},` +
				`{"id":"call_B","input":{"tz":"Asia/Tokyo"},"name":"get_time","type":"tool_use"},` +
				`{"id":"call_C","input":{},"name":"no_args","type":"tool_use"}]`,
			stop:  "tool_use",
			usage: [4]int64{7, 0, 0, 9},
		},
		{
			name: "reasoning dropped when the client did not ask for thinking",
			events: []unified.Event{
				{Type: unified.EventStart},
				{Type: unified.EventReasoning, Text: "secret thoughts"},
				{Type: unified.EventText, Text: "Answer"},
				{Type: unified.EventFinish, Finish: unified.FinishLength},
			},
			blocks: `[{"text":"Answer","type":"text"}]`,
			stop:   "max_tokens",
		},
		{
			name: "reasoning as a thinking block when the client asked",
			meta: &withThinking,
			events: []unified.Event{
				{Type: unified.EventStart},
				{Type: unified.EventReasoning, Text: "Let me "},
				{Type: unified.EventReasoning, Text: "think."},
				{Type: unified.EventReasoningSignature, Text: "sig"},
				{Type: unified.EventText, Text: "Done"},
				{Type: unified.EventFinish, Finish: unified.FinishContentFilter},
			},
			blocks: `[{"signature":"sig","thinking":"Let me think.","type":"thinking"},{"text":"Done","type":"text"}]`,
			stop:   "refusal",
		},
		{
			name:   "an empty answer is still a whole message",
			events: nil,
			blocks: `null`,
			stop:   "end_turn",
			types:  "message_start message_delta message_stop",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := tt.meta
			if m == nil {
				m = testMeta
			}
			rec := writeStream(t, m, tt.events, nil)
			msg, types, err := accumulate(t, rec)
			if err != nil {
				t.Fatal(err)
			}
			if got := blocksJSON(t, msg); got != tt.blocks {
				t.Errorf("blocks =\n%s\nwant\n%s", got, tt.blocks)
			}
			if string(msg.StopReason) != tt.stop || msg.ID != "msg_REQ1" || msg.Model != "claude-public" || msg.Role != "assistant" {
				t.Errorf("stop %q id %q model %q role %q", msg.StopReason, msg.ID, msg.Model, msg.Role)
			}
			u := msg.Usage
			if got := [4]int64{u.InputTokens, u.CacheCreationInputTokens, u.CacheReadInputTokens, u.OutputTokens}; got != tt.usage {
				t.Errorf("usage = %v, want %v", got, tt.usage)
			}
			if tt.types != "" && strings.Join(types, " ") != tt.types {
				t.Errorf("events = %s\nwant     %s", strings.Join(types, " "), tt.types)
			}
			if !strings.HasSuffix(rec.Body.String(), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") {
				t.Errorf("stream does not end with message_stop:\n%s", rec.Body.String())
			}
			if rec.Header().Get("Request-Id") != "REQ1" {
				t.Errorf("request-id = %q", rec.Header().Get("Request-Id"))
			}
			for _, line := range strings.Split(rec.Body.String(), "\n") {
				if strings.HasPrefix(line, "data: ") && !strings.HasPrefix(line, `data: {"type":"`) {
					t.Errorf("data line without type first: %s", line)
				}
			}
		})
	}
}

func TestStreamFailure(t *testing.T) {
	t.Parallel()
	rec := writeStream(t, testMeta, []unified.Event{{Type: unified.EventStart}, {Type: unified.EventText, Text: "The three"}},
		&unified.Error{Kind: unified.KindOverloaded, Message: "Overloaded"})
	msg, _, err := accumulate(t, rec)
	// A bare decoder reports the error event's data; the SDK client turns
	// the same event into an *anthropic.Error (see the end-to-end tests).
	if err == nil || !strings.HasSuffix(err.Error(), `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`) {
		t.Fatalf("err = %v", err)
	}
	if msg.Content[0].Text != "The three" {
		t.Errorf("text before the failure = %+v", msg.Content)
	}
	if strings.Contains(rec.Body.String(), "message_stop") {
		t.Error("a failed stream ended with message_stop")
	}
}

// TestStreamPassthrough replays an Anthropic upstream's events as the
// connector hands them over (each native event ahead of its unified
// ones): the client gets them byte for byte, but for the id and model.
func TestStreamPassthrough(t *testing.T) {
	t.Parallel()
	fixture := string(fixtures.Read(t, "anthropic_stream_tool_use.sse"))
	var events []unified.Event
	for _, raw := range strings.Split(strings.TrimSpace(fixture), "\n\n") {
		name, data, _ := strings.Cut(raw, "\ndata: ")
		events = append(events,
			unified.Event{Type: unified.EventNative, Name: strings.TrimPrefix(name, "event: "), Native: []byte(data)},
			unified.Event{Type: unified.EventText, Text: "must not be written twice"})
	}
	rec := writeStream(t, testMeta, events, nil)
	want := strings.Replace(strings.Replace(fixture, `"msg_01Tq4Hn8WzB2cYk6Ls9Dp3Vr"`, `"msg_REQ1"`, 1),
		`"claude-sonnet-4-5-20250929"`, `"claude-public"`, 1)
	if got := rec.Body.String(); got != want {
		t.Errorf("passthrough =\n%s\nwant\n%s", got, want)
	}
	msg, _, err := accumulate(t, rec)
	if err != nil || string(msg.Content[1].Input) != `{"city": "Paris", "unit": "celsius"}` || msg.StopReason != "tool_use" {
		t.Errorf("accumulated %+v, %v", msg, err)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	sw := Dialect{}.NewStream(rec, testMeta)
	if err := sw.(handlers.Pinger).Ping(); err != nil {
		t.Fatal(err)
	}
	_ = sw.Event(unified.Event{Type: unified.EventText, Text: "x"})
	_ = sw.End()
	if !strings.HasPrefix(rec.Body.String(), "event: ping\ndata: {\"type\": \"ping\"}\n\n") {
		t.Errorf("body = %s", rec.Body.String())
	}
	if _, _, err := accumulate(t, rec); err != nil {
		t.Errorf("the SDK refused a stream with a ping: %v", err)
	}
}

func TestWriteResponse(t *testing.T) {
	t.Parallel()
	resp := &unified.Response{ID: "chatcmpl-1", Model: "gpt-4o",
		Content: []unified.Part{unified.Text("Let me check.")}, Reasoning: "hidden",
		ToolCalls: []unified.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {ID: "call_2", Name: "f", Arguments: `oops`}},
		Finish:    unified.FinishStop,
		Usage:     unified.Usage{InputTokens: 100, OutputTokens: 20, CachedInput: 30, CacheWriteInput: 10}}
	rec := httptest.NewRecorder()
	Dialect{}.WriteResponse(rec, resp, testMeta)
	var msg sdk.Message
	if err := msg.UnmarshalJSON(rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
	if got, want := blocksJSON(t, msg), `[{"text":"Let me check.","type":"text"},`+
		`{"id":"call_1","input":{"city":"Paris"},"name":"get_weather","type":"tool_use"},`+
		`{"id":"call_2","input":{"_raw":"oops"},"name":"f","type":"tool_use"}]`; got != want {
		t.Errorf("content =\n%s\nwant\n%s", got, want)
	}
	if msg.StopReason != "tool_use" || msg.ID != "msg_REQ1" || msg.Model != "claude-public" || msg.Type != "message" {
		t.Errorf("message = %s", rec.Body.String())
	}
	u := msg.Usage
	if u.InputTokens != 60 || u.CacheReadInputTokens != 30 || u.CacheCreationInputTokens != 10 || u.OutputTokens != 20 {
		t.Errorf("usage = %+v", u)
	}

	// A native answer passes through with the gateway's id and model.
	native := `{"id":"msg_up","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"q"}},{"type":"text","text":"x","citations":[{"type":"web_search_result_location","url":"u"}]}],"stop_reason":"pause_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":2,"server_tool_use":{"web_search_requests":1}}}`
	rec = httptest.NewRecorder()
	Dialect{}.WriteResponse(rec, &unified.Response{Native: []byte(native)}, testMeta)
	want := strings.Replace(strings.Replace(native, `"msg_up"`, `"msg_REQ1"`, 1), `"claude-sonnet-4-5"`, `"claude-public"`, 1)
	if rec.Body.String() != want {
		t.Errorf("native answer =\n%s\nwant\n%s", rec.Body.String(), want)
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    *unified.Error
		status int
		typ    string
		header [2]string
	}{
		{unified.InvalidParam("max_tokens", "Field required"), 400, "invalid_request_error", [2]string{}},
		{&unified.Error{Kind: unified.KindAuthentication, Message: "invalid API key"}, 401, "authentication_error", [2]string{}},
		{&unified.Error{Kind: unified.KindPermission, Message: "no"}, 403, "permission_error", [2]string{}},
		{&unified.Error{Kind: unified.KindNotFound, Message: "no model"}, 404, "not_found_error", [2]string{}},
		{&unified.Error{Kind: unified.KindRequestTooLarge, Message: "big"}, 413, "request_too_large", [2]string{}},
		{&unified.Error{Kind: unified.KindRateLimit, Message: "slow", RetryAfter: 20 * time.Second}, 429, "rate_limit_error", [2]string{"Retry-After", "20"}},
		{&unified.Error{Kind: unified.KindQuota, Message: "quota"}, 429, "rate_limit_error", [2]string{"X-Should-Retry", "false"}},
		{&unified.Error{Kind: unified.KindInternal, Message: "bug"}, 500, "api_error", [2]string{}},
		{&unified.Error{Kind: unified.KindUpstream, Message: "broke"}, 502, "api_error", [2]string{}},
		{&unified.Error{Kind: unified.KindUnavailable, Message: "db"}, 503, "api_error", [2]string{}},
		{&unified.Error{Kind: unified.KindOverloaded, Message: "Overloaded"}, 529, "overloaded_error", [2]string{}},
		{&unified.Error{Kind: unified.KindTimeout, Message: "slow"}, 504, "timeout_error", [2]string{}},
		{&unified.Error{Kind: unified.KindMethodNotAllowed, Message: "POST"}, 405, "invalid_request_error", [2]string{}},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		rec.Header().Set("X-Request-Id", "REQ9")
		Dialect{}.WriteError(rec, tt.err)
		var body struct {
			Type  string `json:"type"`
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: %v", rec.Body.String(), err)
		}
		if rec.Code != tt.status || body.Type != "error" || body.Error.Type != tt.typ || body.RequestID != "REQ9" {
			t.Errorf("kind %d: %d %s, want %d %s", tt.err.Kind, rec.Code, rec.Body.String(), tt.status, tt.typ)
		}
		if tt.header[0] != "" && rec.Header().Get(tt.header[0]) != tt.header[1] {
			t.Errorf("kind %d: %s = %q", tt.err.Kind, tt.header[0], rec.Header().Get(tt.header[0]))
		}
	}
	rec := httptest.NewRecorder()
	Dialect{}.WriteError(rec, unified.InvalidParam("max_tokens", "Field required"))
	if !strings.Contains(rec.Body.String(), `"message":"max_tokens: Field required"`) {
		t.Errorf("param not named: %s", rec.Body.String())
	}
}

func TestWriteModels(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	WriteModels(rec, []string{"a", "b"}, 1700000000)
	var list struct {
		Data    []map[string]any `json:"data"`
		HasMore bool             `json:"has_more"`
		FirstID string           `json:"first_id"`
		LastID  string           `json:"last_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 2 || list.Data[0]["type"] != "model" || list.Data[0]["created_at"] != "2023-11-14T22:13:20Z" ||
		list.FirstID != "a" || list.LastID != "b" || list.HasMore {
		t.Errorf("models = %s", rec.Body.String())
	}
	if rec.Code != http.StatusOK {
		t.Errorf("status %d", rec.Code)
	}
}

func TestStopReasonAndUsageHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f     unified.FinishReason
		tools bool
		want  string
	}{
		{unified.FinishStop, false, "end_turn"}, {"", false, "end_turn"}, {unified.FinishLength, false, "max_tokens"},
		{unified.FinishToolCalls, false, "end_turn"}, {unified.FinishToolCalls, true, "tool_use"},
		{unified.FinishStop, true, "tool_use"}, {unified.FinishContentFilter, false, "refusal"},
	}
	for _, tt := range tests {
		if got := StopReason(tt.f, tt.tools); got != tt.want {
			t.Errorf("StopReason(%q, %v) = %q, want %q", tt.f, tt.tools, got, tt.want)
		}
	}
	if got := InputTokens(unified.Usage{InputTokens: 5, CachedInput: 10}); got != 0 {
		t.Errorf("InputTokens never goes negative: %d", got)
	}
	if !reflect.DeepEqual(wireUsage(unified.Usage{}).InputTokens, ptr(0)) {
		t.Error("zero usage counts must still be written")
	}
}
