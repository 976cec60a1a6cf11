package openai

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

var created = time.Unix(1733150400, 0)

func meta(includeUsage bool) *handlers.Meta {
	return &handlers.Meta{
		ID: "req1", Model: "gpt-4o", Created: created,
		Request: &unified.Request{Model: "gpt-4o", Stream: true, IncludeUsage: includeUsage},
	}
}

// prefix is the start of every chunk for meta().
const prefix = `data: {"id":"chatcmpl-req1","object":"chat.completion.chunk","created":1733150400,"model":"gpt-4o","choices":[`

const (
	roleChunk = prefix + `{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n"
	done      = "data: [DONE]\n\n"
)

func chunk(delta string) string {
	return prefix + `{"index":0,"delta":` + delta + `,"finish_reason":null}]}` + "\n\n"
}

func finishChunk(reason string) string {
	return prefix + `{"index":0,"delta":{},"finish_reason":"` + reason + `"}]}` + "\n\n"
}

func usageChunk(in, out, cached, reasoning string) string {
	return prefix + `],"usage":{"prompt_tokens":` + in + `,"completion_tokens":` + out + `,"total_tokens":` +
		total(in, out) + `,"prompt_tokens_details":{"cached_tokens":` + cached +
		`},"completion_tokens_details":{"reasoning_tokens":` + reasoning + `}}}` + "\n\n"
}

func total(a, b string) string {
	var x, y int
	_ = json.Unmarshal([]byte(a), &x)
	_ = json.Unmarshal([]byte(b), &y)
	out, _ := json.Marshal(x + y)
	return string(out)
}

// step is one call on a stream writer.
type step struct {
	ev   *unified.Event
	end  bool
	fail *unified.Error
}

func evs(events ...unified.Event) []step {
	out := make([]step, len(events))
	for i := range events {
		out[i] = step{ev: &events[i]}
	}
	return out
}

func run(t *testing.T, m *handlers.Meta, steps []step) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s := Dialect{}.NewStream(rec, m)
	if rec.Code != http.StatusOK || !rec.Flushed {
		t.Fatalf("NewStream: status %d flushed %v, want 200 sent at once", rec.Code, rec.Flushed)
	}
	for _, st := range steps {
		var err error
		switch {
		case st.ev != nil:
			err = s.Event(*st.ev)
		case st.end:
			err = s.End()
		case st.fail != nil:
			err = s.Fail(st.fail)
		}
		if err != nil {
			t.Fatalf("stream writer: %v", err)
		}
	}
	return rec
}

var toolSequence = evs(
	unified.Event{Type: unified.EventStart, ID: "upstream-id", Name: "upstream-model", Usage: unified.Usage{InputTokens: 82}},
	unified.Event{Type: unified.EventText, Text: "Let me check."},
	unified.Event{Type: unified.EventText, Text: ""},
	unified.Event{Type: unified.EventToolCallStart, Index: 0, ID: "call_Qm3VtW9xLk2Pz8Rb", Name: "get_weather"},
	unified.Event{Type: unified.EventToolCallDelta, Index: 0, Text: `{"city":`},
	unified.Event{Type: unified.EventToolCallDelta, Index: 0, Text: ""},
	unified.Event{Type: unified.EventToolCallDelta, Index: 0, Text: `"Paris"}`},
	unified.Event{Type: unified.EventToolCallStart, Index: 1, ID: "call_Hn7YcJ2sDf4Gq1Xa", Name: "get_time"},
	unified.Event{Type: unified.EventToolCallDelta, Index: 1, Text: `{"tz":"UTC"}`},
	unified.Event{Type: unified.EventFinish, Finish: unified.FinishToolCalls},
	unified.Event{Type: unified.EventUsage, Usage: unified.Usage{OutputTokens: 17, CachedInput: 64, ReasoningTokens: 5}},
)

func TestStreamWriterBytes(t *testing.T) {
	t.Parallel()
	toolBody := roleChunk +
		chunk(`{"content":"Let me check."}`) +
		chunk(`{"tool_calls":[{"index":0,"id":"call_Qm3VtW9xLk2Pz8Rb","type":"function","function":{"name":"get_weather","arguments":""}}]}`) +
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}`) +
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`) +
		chunk(`{"tool_calls":[{"index":1,"id":"call_Hn7YcJ2sDf4Gq1Xa","type":"function","function":{"name":"get_time","arguments":""}}]}`) +
		chunk(`{"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":\"UTC\"}"}}]}`) +
		finishChunk("tool_calls")
	tests := []struct {
		name         string
		includeUsage bool
		steps        []step
		want         string
	}{
		{
			name:  "tool calls without include_usage",
			steps: append(append([]step{}, toolSequence...), step{end: true}),
			want:  toolBody + done,
		},
		{
			name:         "tool calls with include_usage",
			includeUsage: true,
			steps:        append(append([]step{}, toolSequence...), step{end: true}),
			want:         toolBody + usageChunk("82", "17", "64", "5") + done,
		},
		{
			name:         "text, reasoning and escaping (newline and quote escaped, U+2028 may stay raw)",
			includeUsage: true,
			steps: append(evs(
				unified.Event{Type: unified.EventStart},
				unified.Event{Type: unified.EventReasoning, Text: "The user wants a haiku."},
				unified.Event{Type: unified.EventText, Text: "Frost on the window,"},
				unified.Event{Type: unified.EventText, Text: "\nthe \"kettle\" hums\u2028</script>"},
				unified.Event{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 21, OutputTokens: 3}},
				unified.Event{Type: unified.EventUsage, Usage: unified.Usage{OutputTokens: 14}},
				unified.Event{Type: unified.EventFinish, Finish: unified.FinishLength},
			), step{end: true}),
			want: roleChunk +
				chunk(`{"reasoning_content":"The user wants a haiku."}`) +
				chunk(`{"content":"Frost on the window,"}`) +
				chunk(`{"content":"\nthe \"kettle\" hums`+"\u2028"+`</script>"}`) +
				finishChunk("length") +
				usageChunk("21", "14", "0", "0") + done,
		},
		{
			name:  "end without events",
			steps: []step{{end: true}},
			want:  roleChunk + finishChunk("stop") + done,
		},
		{
			name:         "end without events, include_usage",
			includeUsage: true,
			steps:        []step{{end: true}},
			want:         roleChunk + finishChunk("stop") + usageChunk("0", "0", "0", "0") + done,
		},
		{
			name: "stop with tool calls becomes tool_calls",
			steps: append(evs(
				unified.Event{Type: unified.EventToolCallStart, Index: 0, ID: "call_1", Name: "f"},
				unified.Event{Type: unified.EventToolCallDelta, Index: 0, Text: "{}"},
				unified.Event{Type: unified.EventFinish, Finish: unified.FinishStop},
			), step{end: true}),
			want: roleChunk +
				chunk(`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}`) +
				chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}`) +
				finishChunk("tool_calls") + done,
		},
		{
			name: "content_filter kept",
			steps: append(evs(
				unified.Event{Type: unified.EventFinish, Finish: unified.FinishContentFilter},
			), step{end: true}),
			want: roleChunk + finishChunk("content_filter") + done,
		},
		{
			name: "fail after text",
			steps: append(evs(
				unified.Event{Type: unified.EventStart},
				unified.Event{Type: unified.EventText, Text: "The three largest"},
			), step{fail: &unified.Error{Kind: unified.KindUpstream, Message: "provider openai failed: boom"}}),
			want: roleChunk + chunk(`{"content":"The three largest"}`) +
				`data: {"error":{"message":"provider openai failed: boom","type":"server_error","param":null,"code":"upstream_error"}}` + "\n\n",
		},
		{
			name:  "fail before anything",
			steps: []step{{fail: &unified.Error{Kind: unified.KindOverloaded, Message: "Overloaded", Code: "overloaded"}}},
			want:  `data: {"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded"}}` + "\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := run(t, meta(tt.includeUsage), tt.steps)
			got := rec.Body.String()
			if got != tt.want {
				t.Fatalf("body =\n%s\nwant\n%s", got, tt.want)
			}
			h := rec.Header()
			for k, v := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
				if h.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, h.Get(k), v)
				}
			}
			checkFraming(t, got)
		})
	}
}

// checkFraming checks the OpenAI rules on any body: only data: lines, each
// a one-line JSON object (or [DONE]), every event ended by a blank line.
func checkFraming(t *testing.T, body string) {
	t.Helper()
	if !strings.HasSuffix(body, "\n\n") {
		t.Errorf("body does not end with a blank line")
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	blank := true
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			blank = true
			continue
		}
		if !blank {
			t.Errorf("two lines in one event: %q", line)
		}
		blank = false
		if strings.HasPrefix(line, "event:") {
			t.Errorf("event: line on the OpenAI ingress: %q", line)
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Errorf("not a data line: %q", line)
			continue
		}
		if data == "[DONE]" {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(data), &obj); err != nil {
			t.Errorf("data is not a JSON object: %v: %s", err, data)
		}
	}
	if strings.Count(body, "[DONE]") > 1 {
		t.Errorf("[DONE] sent more than once")
	}
}

// Every chunk goes out as soon as it is written.
func TestStreamWriterFlushes(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	s := Dialect{}.NewStream(rec, meta(false))
	for _, ev := range []unified.Event{
		{Type: unified.EventText, Text: "a"},
		{Type: unified.EventText, Text: "b"},
	} {
		rec.Flushed = false
		if err := s.Event(ev); err != nil {
			t.Fatal(err)
		}
		if !rec.Flushed {
			t.Fatalf("event %q not flushed", ev.Text)
		}
	}
	rec.Flushed = false
	if err := s.End(); err != nil || !rec.Flushed {
		t.Fatalf("End: err %v flushed %v", err, rec.Flushed)
	}
}

// The writer reports a gone client.
type brokenWriter struct{ *httptest.ResponseRecorder }

func (brokenWriter) Write([]byte) (int, error) { return 0, http.ErrHandlerTimeout }

func TestStreamWriterClientGone(t *testing.T) {
	t.Parallel()
	s := Dialect{}.NewStream(brokenWriter{httptest.NewRecorder()}, meta(false))
	if err := s.Event(unified.Event{Type: unified.EventText, Text: "x"}); err == nil {
		t.Error("Event on a broken writer returned nil")
	}
	if err := s.End(); err == nil {
		t.Error("End on a broken writer returned nil")
	}
	if err := s.Fail(unified.Errorf(unified.KindUpstream, "x")); err == nil {
		t.Error("Fail on a broken writer returned nil")
	}
}

func TestStreamWriterNilRequest(t *testing.T) {
	t.Parallel()
	rec := run(t, &handlers.Meta{ID: "req1", Model: "gpt-4o", Created: created}, []step{{end: true}})
	if got, want := rec.Body.String(), roleChunk+finishChunk("stop")+done; got != want {
		t.Fatalf("body =\n%s\nwant\n%s", got, want)
	}
}
