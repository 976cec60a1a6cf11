package openai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	gb, _ := json.MarshalIndent(g, "", "  ")
	wb, _ := json.MarshalIndent(w, "", "  ")
	if !bytes.Equal(gb, wb) {
		t.Fatalf("body =\n%s\nwant\n%s", gb, wb)
	}
}

func TestWriteResponse(t *testing.T) {
	t.Parallel()
	m := &handlers.Meta{ID: "req1", Model: "gpt-4o", Created: created}
	tests := []struct {
		name string
		resp unified.Response
		want string
	}{
		{
			name: "text",
			resp: unified.Response{
				ID: "upstream", Model: "upstream-model",
				Content: []unified.Part{unified.Text("Frost on the window,\nthe kettle hums a small song.")},
				Finish:  unified.FinishStop,
				Usage:   unified.Usage{InputTokens: 21, OutputTokens: 14, CachedInput: 3, ReasoningTokens: 2},
			},
			want: `{"id":"chatcmpl-req1","object":"chat.completion","created":1733150400,"model":"gpt-4o",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"Frost on the window,\nthe kettle hums a small song.","refusal":null},"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":21,"completion_tokens":14,"total_tokens":35,
			    "prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":2}}}`,
		},
		{
			name: "only tool calls: content null",
			resp: unified.Response{
				ToolCalls: []unified.ToolCall{
					{ID: "call_Qm3VtW9xLk2Pz8Rb", Name: "get_weather", Arguments: `{"city":"Paris"}`},
					{ID: "call_Hn7YcJ2sDf4Gq1Xa", Name: "get_weather", Arguments: `{"city":"Tokyo"}`},
				},
				Finish: unified.FinishToolCalls,
				Usage:  unified.Usage{InputTokens: 82, OutputTokens: 17},
			},
			want: `{"id":"chatcmpl-req1","object":"chat.completion","created":1733150400,"model":"gpt-4o",
			  "choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":[
			    {"id":"call_Qm3VtW9xLk2Pz8Rb","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
			    {"id":"call_Hn7YcJ2sDf4Gq1Xa","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}]},
			    "finish_reason":"tool_calls"}],
			  "usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99,
			    "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		},
		{
			name: "text, reasoning and a tool call",
			resp: unified.Response{
				Content:   []unified.Part{unified.Text("Checking.")},
				Reasoning: "Need the weather.",
				ToolCalls: []unified.ToolCall{{ID: "call_1", Name: "f", Arguments: "{}"}},
				Finish:    unified.FinishToolCalls,
			},
			want: `{"id":"chatcmpl-req1","object":"chat.completion","created":1733150400,"model":"gpt-4o",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","reasoning_content":"Need the weather.","refusal":null,
			    "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],
			  "usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,
			    "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		},
		{
			name: "empty answer: empty string content, finish stop",
			resp: unified.Response{},
			want: `{"id":"chatcmpl-req1","object":"chat.completion","created":1733150400,"model":"gpt-4o",
			  "choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":null},"finish_reason":"stop"}],
			  "usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,
			    "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			Dialect{}.WriteResponse(rec, &tt.resp, m)
			if rec.Code != 200 {
				t.Errorf("status = %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("Content-Length = %q, body %d bytes", cl, rec.Body.Len())
			}
			jsonEqual(t, rec.Body.Bytes(), tt.want)
		})
	}
}

// Regression: WriteResponse (handlers/openai/openai.go, `finish := string(resp.Finish)`)
// copies the finish reason as it is, while the stream writer's End turns a
// missing or "stop" finish into "tool_calls" when tool calls were made. The
// same unified.Response therefore says "tool_calls" when streamed and
// "stop" when not, and agent loops that test finish_reason == "tool_calls"
// stop early on the non-streamed answer. Fix: in WriteResponse, when
// len(resp.ToolCalls) > 0 and finish is "" or "stop", use "tool_calls"
// (as streamWriter.End does).
func TestWriteResponseFinishWithToolCalls(t *testing.T) {
	t.Parallel()
	for _, finish := range []unified.FinishReason{"", unified.FinishStop} {
		resp := &unified.Response{ToolCalls: []unified.ToolCall{{ID: "call_1", Name: "f", Arguments: "{}"}}, Finish: finish}

		rec := httptest.NewRecorder()
		Dialect{}.WriteResponse(rec, resp, &handlers.Meta{ID: "r", Model: "m", Created: created})
		var body struct {
			Choices []struct {
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Choices) != 1 {
			t.Fatalf("body %s: %v", rec.Body, err)
		}

		// The same answer, streamed.
		srec := httptest.NewRecorder()
		s := Dialect{}.NewStream(srec, &handlers.Meta{ID: "r", Model: "m", Created: created})
		for _, ev := range resp.Events() {
			_ = s.Event(ev)
		}
		_ = s.End()
		if !bytes.Contains(srec.Body.Bytes(), []byte(`"finish_reason":"tool_calls"`)) {
			t.Fatalf("streamed finish is not tool_calls:\n%s", srec.Body)
		}

		if body.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("finish %q with tool calls: non-stream finish_reason = %q, streamed = tool_calls", finish, body.Choices[0].FinishReason)
		}
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    *unified.Error
		status int
		typ    string // "" to leave unchecked
		code   any    // string or nil (JSON null)
		param  any
		header map[string]string // "" value: must be absent
	}{
		{"internal", &unified.Error{Kind: unified.KindInternal, Message: "internal gateway error"}, 500, "server_error", nil, nil, nil},
		{"invalid request with param", unified.InvalidParam("messages[2].tool_call_id", "a tool message needs tool_call_id"), 400, "invalid_request_error", nil, "messages[2].tool_call_id", nil},
		{"authentication", &unified.Error{Kind: unified.KindAuthentication, Message: "invalid API key"}, 401, "invalid_request_error", "invalid_api_key", nil, nil},
		// The type for 403 is not pinned: wire-formats §7.9 says
		// permission_denied, the code writes permission_error.
		{"permission", &unified.Error{Kind: unified.KindPermission, Message: "no"}, 403, "", "permission_denied", nil, nil},
		{"not found", &unified.Error{Kind: unified.KindNotFound, Message: "no such model", Param: "model"}, 404, "invalid_request_error", "model_not_found", "model", nil},
		{"method", &unified.Error{Kind: unified.KindMethodNotAllowed, Message: "use POST"}, 405, "invalid_request_error", "method_not_allowed", nil, nil},
		{"too large", &unified.Error{Kind: unified.KindRequestTooLarge, Message: "too big"}, 413, "invalid_request_error", "request_too_large", nil, nil},
		{"unprocessable", &unified.Error{Kind: unified.KindUnprocessable, Message: "reused key"}, 422, "invalid_request_error", "unprocessable", nil, nil},
		{
			"rate limit", &unified.Error{Kind: unified.KindRateLimit, Message: "slow down", RetryAfter: 2500 * time.Millisecond}, 429, "requests", "rate_limit_exceeded", nil,
			map[string]string{"Retry-After": "3", "Retry-After-Ms": "2500", "X-Should-Retry": ""},
		},
		{
			"rate limit, whole seconds", &unified.Error{Kind: unified.KindRateLimit, Message: "slow down", RetryAfter: 3 * time.Second}, 429, "requests", "rate_limit_exceeded", nil,
			map[string]string{"Retry-After": "3", "Retry-After-Ms": "3000"},
		},
		{
			"rate limit without delay", &unified.Error{Kind: unified.KindRateLimit, Message: "slow down"}, 429, "requests", "rate_limit_exceeded", nil,
			map[string]string{"Retry-After": "", "Retry-After-Ms": ""},
		},
		{
			"quota", &unified.Error{Kind: unified.KindQuota, Message: "quota exhausted"}, 429, "insufficient_quota", "insufficient_quota", nil,
			map[string]string{"X-Should-Retry": "false", "Retry-After": ""},
		},
		{"upstream", &unified.Error{Kind: unified.KindUpstream, Message: "provider failed"}, 502, "server_error", "upstream_error", nil, nil},
		{"unavailable", &unified.Error{Kind: unified.KindUnavailable, Message: "key store down"}, 503, "server_error", "service_unavailable", nil, nil},
		{"overloaded", &unified.Error{Kind: unified.KindOverloaded, Message: "overloaded", RetryAfter: time.Second}, 503, "server_error", "service_unavailable", nil, map[string]string{"Retry-After": "1"}},
		{"timeout", &unified.Error{Kind: unified.KindTimeout, Message: "too slow"}, 504, "server_error", "timeout", nil, nil},
		{"explicit code wins", &unified.Error{Kind: unified.KindInvalidRequest, Message: "too long", Code: "context_length_exceeded", Param: "messages"}, 400, "invalid_request_error", "context_length_exceeded", "messages", nil},
		{"message with quotes and newline", &unified.Error{Kind: unified.KindInvalidRequest, Message: "bad \"x\"\nline"}, 400, "invalid_request_error", nil, nil, nil},
	}
	seen := map[unified.Kind]bool{}
	for _, tt := range tests {
		seen[tt.err.Kind] = true
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			Dialect{}.WriteError(rec, tt.err)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
				t.Errorf("Content-Length = %q, body %d bytes", cl, rec.Body.Len())
			}
			var body map[string]map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %s: %v", rec.Body, err)
			}
			e, ok := body["error"]
			if !ok || len(body) != 1 {
				t.Fatalf("body = %s, want {\"error\":{...}}", rec.Body)
			}
			for _, k := range []string{"message", "type", "param", "code"} {
				if _, ok := e[k]; !ok {
					t.Errorf("error.%s missing", k)
				}
			}
			if e["message"] != tt.err.Message {
				t.Errorf("message = %v, want %q", e["message"], tt.err.Message)
			}
			if tt.typ != "" && e["type"] != tt.typ {
				t.Errorf("type = %v, want %q", e["type"], tt.typ)
			}
			if e["code"] != tt.code {
				t.Errorf("code = %v, want %v", e["code"], tt.code)
			}
			if e["param"] != tt.param {
				t.Errorf("param = %v, want %v", e["param"], tt.param)
			}
			for k, v := range tt.header {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	for k := unified.KindInternal; k <= unified.KindMethodNotAllowed; k++ {
		if !seen[k] {
			t.Errorf("kind %d has no WriteError case", k)
		}
	}
}

func TestWriteModels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"gpt-4o", "claude-sonnet"}, `{"object":"list","data":[
			{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"xjp-gateway"},
			{"id":"claude-sonnet","object":"model","created":1715367049,"owned_by":"xjp-gateway"}]}`},
		{nil, `{"object":"list","data":[]}`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		WriteModels(rec, tt.names, 1715367049)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		jsonEqual(t, rec.Body.Bytes(), tt.want)
	}
}

func TestDialectName(t *testing.T) {
	t.Parallel()
	if (Dialect{}).Name() != "openai" {
		t.Fatal(Dialect{}.Name())
	}
	if ResponseID("abc") != "chatcmpl-abc" {
		t.Fatal(ResponseID("abc"))
	}
	var _ http.ResponseWriter = httptest.NewRecorder()
}
