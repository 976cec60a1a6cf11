package unified

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestUsageMerge(t *testing.T) {
	t.Parallel()
	full := Usage{InputTokens: 10, OutputTokens: 20, CachedInput: 3, CacheWriteInput: 4, ReasoningTokens: 5}
	tests := []struct {
		name      string
		base, add Usage
		want      Usage
	}{
		{"zero into zero", Usage{}, Usage{}, Usage{}},
		{"into empty takes all", Usage{}, full, full},
		{"empty report keeps all", full, Usage{}, full},
		{
			"output only (anthropic message_delta) keeps input",
			Usage{InputTokens: 18, OutputTokens: 1},
			Usage{OutputTokens: 17},
			Usage{InputTokens: 18, OutputTokens: 17},
		},
		{
			"latest wins field by field",
			full,
			Usage{InputTokens: 11, ReasoningTokens: 6},
			Usage{InputTokens: 11, OutputTokens: 20, CachedInput: 3, CacheWriteInput: 4, ReasoningTokens: 6},
		},
		{
			"cache fields",
			Usage{InputTokens: 1},
			Usage{CachedInput: 7, CacheWriteInput: 8},
			Usage{InputTokens: 1, CachedInput: 7, CacheWriteInput: 8},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.base
			got.Merge(tt.add)
			if got != tt.want {
				t.Fatalf("Merge = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestUsageTotal(t *testing.T) {
	t.Parallel()
	u := Usage{InputTokens: 19, OutputTokens: 16, CachedInput: 5, ReasoningTokens: 4}
	if got := u.Total(); got != 35 {
		t.Fatalf("Total = %d, want 35 (cached and reasoning are already included)", got)
	}
}

// closeRecorder wraps a stream and records Close calls.
type closeRecorder struct {
	Stream
	closed int
}

func (c *closeRecorder) Close() error { c.closed++; return c.Stream.Close() }

func TestCollect(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		events  []Event
		err     error // SliceStream.Err
		want    *Response
		wantErr func(t *testing.T, err error)
	}{
		{
			name: "text only",
			events: []Event{
				{Type: EventStart, ID: "resp-1", Name: "m-1", Usage: Usage{InputTokens: 9}},
				{Type: EventText, Text: "Frost on the window,"},
				{Type: EventText, Text: ""},
				{Type: EventText, Text: "\nthe kettle hums."},
				{Type: EventFinish, Finish: FinishStop},
				{Type: EventUsage, Usage: Usage{OutputTokens: 12}},
			},
			want: &Response{
				ID: "resp-1", Model: "m-1",
				Content: []Part{Text("Frost on the window,\nthe kettle hums.")},
				Finish:  FinishStop,
				Usage:   Usage{InputTokens: 9, OutputTokens: 12},
			},
		},
		{
			name: "reasoning then text",
			events: []Event{
				{Type: EventStart},
				{Type: EventReasoning, Text: "The user wants "},
				{Type: EventReasoning, Text: "a haiku."},
				{Type: EventText, Text: "Haiku."},
				{Type: EventFinish, Finish: FinishLength},
			},
			want: &Response{
				Content:   []Part{Text("Haiku.")},
				Reasoning: "The user wants a haiku.",
				Finish:    FinishLength,
			},
		},
		{
			name: "several tool calls with argument fragments",
			events: []Event{
				{Type: EventStart, ID: "x", Name: "gpt"},
				{Type: EventToolCallStart, Index: 0, ID: "call_A", Name: "get_weather"},
				{Type: EventToolCallDelta, Index: 0, Text: `{"ci`},
				{Type: EventToolCallDelta, Index: 0, Text: `ty": "Paris"}`},
				{Type: EventToolCallStart, Index: 1, ID: "call_B", Name: "get_time"},
				{Type: EventToolCallDelta, Index: 1, Text: `{"tz":`},
				{Type: EventToolCallDelta, Index: 1, Text: `"Asia/Tokyo"}`},
				{Type: EventToolCallStart, Index: 2, ID: "call_C", Name: "no_args"},
				{Type: EventFinish, Finish: FinishToolCalls},
				{Type: EventUsage, Usage: Usage{InputTokens: 74, OutputTokens: 46}},
			},
			want: &Response{
				ID: "x", Model: "gpt",
				ToolCalls: []ToolCall{
					{ID: "call_A", Name: "get_weather", Arguments: `{"city": "Paris"}`},
					{ID: "call_B", Name: "get_time", Arguments: `{"tz":"Asia/Tokyo"}`},
					{ID: "call_C", Name: "no_args", Arguments: "{}"},
				},
				Finish: FinishToolCalls,
				Usage:  Usage{InputTokens: 74, OutputTokens: 46},
			},
		},
		{
			name: "empty stream",
			want: &Response{},
		},
		{
			name: "tool call opened out of order",
			events: []Event{
				{Type: EventStart},
				{Type: EventToolCallStart, Index: 1, ID: "call_B", Name: "f"},
			},
			wantErr: wantKind(KindUpstream),
		},
		{
			name: "tool call index reused",
			events: []Event{
				{Type: EventToolCallStart, Index: 0, ID: "a", Name: "f"},
				{Type: EventToolCallStart, Index: 0, ID: "b", Name: "f"},
			},
			wantErr: wantKind(KindUpstream),
		},
		{
			name: "arguments for an unopened tool call",
			events: []Event{
				{Type: EventToolCallStart, Index: 0, ID: "a", Name: "f"},
				{Type: EventToolCallDelta, Index: 1, Text: "{}"},
			},
			wantErr: wantKind(KindUpstream),
		},
		{
			name:    "arguments for a negative index",
			events:  []Event{{Type: EventToolCallDelta, Index: -1, Text: "{}"}},
			wantErr: wantKind(KindUpstream),
		},
		{
			name:   "stream error is returned as is",
			events: []Event{{Type: EventStart}, {Type: EventText, Text: "partial"}},
			err:    errBoom,
			wantErr: func(t *testing.T, err error) {
				if !errors.Is(err, errBoom) {
					t.Fatalf("err = %v, want %v", err, errBoom)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &closeRecorder{Stream: &SliceStream{Events: tt.events, Err: tt.err}}
			got, err := Collect(s)
			if s.closed == 0 {
				t.Errorf("Collect did not close the stream")
			}
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Collect = %+v, want an error", got)
				}
				if got != nil {
					t.Errorf("Collect returned a response with an error: %+v", got)
				}
				tt.wantErr(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Collect =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

// Regression: Collect once kept the argument builders in a
// []strings.Builder, and appending a new tool call copied the earlier
// builders, so interleaved fragments (allowed by OpenAI, wire-formats §2.4)
// panicked with "illegal use of non-zero Builder copied by value".
func TestCollectInterleavedToolCalls(t *testing.T) {
	t.Parallel()
	events := []Event{
		{Type: EventStart, ID: "x", Name: "gpt"},
		{Type: EventToolCallStart, Index: 0, ID: "call_A", Name: "get_weather"},
		{Type: EventToolCallDelta, Index: 0, Text: `{"ci`},
		{Type: EventToolCallStart, Index: 1, ID: "call_B", Name: "get_time"},
		{Type: EventToolCallDelta, Index: 1, Text: `{"tz":`},
		{Type: EventToolCallDelta, Index: 0, Text: `ty": "Paris"}`},
		{Type: EventToolCallStart, Index: 2, ID: "call_C", Name: "no_args"},
		{Type: EventToolCallDelta, Index: 1, Text: `"Asia/Tokyo"}`},
		{Type: EventFinish, Finish: FinishToolCalls},
	}
	want := []ToolCall{
		{ID: "call_A", Name: "get_weather", Arguments: `{"city": "Paris"}`},
		{ID: "call_B", Name: "get_time", Arguments: `{"tz":"Asia/Tokyo"}`},
		{ID: "call_C", Name: "no_args", Arguments: "{}"},
	}
	var (
		got *Response
		err error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Collect panicked on interleaved tool-call fragments: %v", p)
			}
		}()
		got, err = Collect(&SliceStream{Events: events})
	}()
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if !reflect.DeepEqual(got.ToolCalls, want) {
		t.Fatalf("tool calls = %+v, want %+v", got.ToolCalls, want)
	}
}

func wantKind(k Kind) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("err = %T %v, want *unified.Error", err, err)
		}
		if e.Kind != k {
			t.Fatalf("err kind = %d (%v), want %d", e.Kind, e, k)
		}
	}
}

func TestSliceStream(t *testing.T) {
	t.Parallel()
	s := &SliceStream{Events: []Event{{Type: EventText, Text: "a"}}}
	if ev, err := s.Next(); err != nil || ev.Text != "a" {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
	for range 2 {
		if _, err := s.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("Next after the end = %v, want io.EOF", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestResponseEventsRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		resp Response
	}{
		{"empty", Response{}},
		{"text", Response{
			ID: "chatcmpl-1", Model: "gpt-4o",
			Content: []Part{Text("Hello there")},
			Finish:  FinishStop,
			Usage:   Usage{InputTokens: 3, OutputTokens: 2, CachedInput: 1, ReasoningTokens: 1},
		}},
		{"reasoning text and tools", Response{
			ID: "gen-1", Model: "anthropic/claude",
			Content:   []Part{Text("Let me check.")},
			Reasoning: "thinking",
			ToolCalls: []ToolCall{
				{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`},
				{ID: "call_2", Name: "get_weather", Arguments: `{"city":"Tokyo"}`},
			},
			Finish: FinishToolCalls,
			Usage:  Usage{InputTokens: 74, OutputTokens: 46},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			evs := tt.resp.Events()
			if len(evs) < 3 || evs[0].Type != EventStart {
				t.Fatalf("Events must start with EventStart: %+v", evs)
			}
			if evs[len(evs)-2].Type != EventFinish || evs[len(evs)-1].Type != EventUsage {
				t.Fatalf("Events must end with finish then usage: %+v", evs)
			}
			got, err := Collect(&SliceStream{Events: evs})
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.resp) {
				t.Fatalf("round trip =\n%#v\nwant\n%#v", *got, tt.resp)
			}
		})
	}

	t.Run("empty arguments become {}", func(t *testing.T) {
		t.Parallel()
		r := Response{ToolCalls: []ToolCall{{ID: "c", Name: "f"}}, Finish: FinishToolCalls}
		got, err := Collect(&SliceStream{Events: r.Events()})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.ToolCalls) != 1 || got.ToolCalls[0].Arguments != "{}" {
			t.Fatalf("tool calls = %+v, want arguments {}", got.ToolCalls)
		}
	})
}

func TestParseDataURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		mime     string
		data     string
		ok       bool
		comments string
	}{
		{in: "data:image/png;base64,iVBORw0KGgo=", mime: "image/png", data: "iVBORw0KGgo=", ok: true},
		{in: "data:application/pdf;base64,JVBERi0=", mime: "application/pdf", data: "JVBERi0=", ok: true},
		{in: "data:IMAGE/JPEG;base64,AAA", mime: "image/jpeg", data: "AAA", ok: true, comments: "mime lower-cased"},
		{in: "data:image/png;charset=x;base64,AAA", mime: "image/png", data: "AAA", ok: true, comments: "params dropped"},
		{in: "data:image/png;a=1;b=2;base64,AAA", mime: "image/png", data: "AAA", ok: true},
		{in: "data:image/png,AAA", comments: "no ;base64"},
		{in: "data:image/png;charset=x,AAA", comments: "params but no base64"},
		{in: "data:image/png;base64", comments: "no comma"},
		{in: "data:image/png;base64AAA", comments: "no comma"},
		{in: "data:;base64,AAA", comments: "no mime"},
		{in: "data:base64,AAA", comments: "no mime, no separator"},
		{in: "data:png;base64,AAA", comments: "mime without slash"},
		{in: "image/png;base64,AAA", comments: "no data: scheme"},
		{in: "https://example.com/cat.png", comments: "a URL"},
		{in: "", comments: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			mime, data, ok := ParseDataURI(tt.in)
			if ok != tt.ok || mime != tt.mime || data != tt.data {
				t.Fatalf("ParseDataURI(%q) = %q, %q, %v; want %q, %q, %v (%s)",
					tt.in, mime, data, ok, tt.mime, tt.data, tt.ok, tt.comments)
			}
		})
	}
}

func TestDataURI(t *testing.T) {
	t.Parallel()
	tests := []struct{ mime, data, want string }{
		{"image/png", "AAA", "data:image/png;base64,AAA"},
		{"application/pdf", "JVBERi0=", "data:application/pdf;base64,JVBERi0="},
	}
	for _, tt := range tests {
		got := DataURI(tt.mime, tt.data)
		if got != tt.want {
			t.Errorf("DataURI(%q, %q) = %q, want %q", tt.mime, tt.data, got, tt.want)
		}
		mime, data, ok := ParseDataURI(got)
		if !ok || mime != tt.mime || data != tt.data {
			t.Errorf("ParseDataURI(DataURI(...)) = %q, %q, %v", mime, data, ok)
		}
	}
}

func TestEstimateTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"abc", 1},
		{"abcd", 1},
		{"abcde", 2},
		{"abcdefgh", 2},
		{"abcdefghi", 3},
		{"日本", 2}, // 6 bytes
		{strings.Repeat("x", 400), 100},
	}
	for _, tt := range tests {
		if got := EstimateTokens(tt.in); got != tt.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestEstimateInputTokens(t *testing.T) {
	t.Parallel()
	r := &Request{
		Messages: []Message{
			{Role: RoleSystem, Content: []Part{Text("abcd")}},                                // 4 + 1
			{Role: RoleUser, Content: []Part{Text("abcdefgh"), {Type: PartImage, URL: "x"}}}, // 4 + 2 + 256
			{Role: RoleAssistant, ToolCalls: []ToolCall{{Name: "f", Arguments: `{"a":1}`}}},  // 4 + 1 + 2
			{Role: RoleTool, ToolCallID: "c", Content: []Part{Text("")}},                     // 4 + 0
		},
		Tools: []Tool{{Name: "get", Description: "abcde", Parameters: []byte(`{"type":"object"}`)}}, // 1 + 2 + 5
	}
	if got, want := r.EstimateInputTokens(), 5+262+7+4+8; got != want {
		t.Fatalf("EstimateInputTokens = %d, want %d", got, want)
	}
	if got := (&Request{}).EstimateInputTokens(); got != 0 {
		t.Fatalf("empty request estimate = %d, want 0", got)
	}
}

func TestKindStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind Kind
		want int
	}{
		{KindInternal, http.StatusInternalServerError},
		{KindInvalidRequest, http.StatusBadRequest},
		{KindAuthentication, http.StatusUnauthorized},
		{KindPermission, http.StatusForbidden},
		{KindNotFound, http.StatusNotFound},
		{KindRequestTooLarge, http.StatusRequestEntityTooLarge},
		{KindUnprocessable, http.StatusUnprocessableEntity},
		{KindRateLimit, http.StatusTooManyRequests},
		{KindQuota, http.StatusTooManyRequests},
		{KindUpstream, http.StatusBadGateway},
		{KindUnavailable, http.StatusServiceUnavailable},
		{KindOverloaded, http.StatusServiceUnavailable},
		{KindTimeout, http.StatusGatewayTimeout},
		{KindMethodNotAllowed, http.StatusMethodNotAllowed},
		{KindMethodNotAllowed + 1, http.StatusInternalServerError},
		{Kind(255), http.StatusInternalServerError},
	}
	seen := map[Kind]bool{}
	for _, tt := range tests {
		seen[tt.kind] = true
		if got := tt.kind.Status(); got != tt.want {
			t.Errorf("Kind(%d).Status() = %d, want %d", tt.kind, got, tt.want)
		}
		if got := (&Error{Kind: tt.kind}).Status(); got != tt.want {
			t.Errorf("Error{Kind: %d}.Status() = %d, want %d", tt.kind, got, tt.want)
		}
	}
	// Every kind up to the last declared one is in the table.
	for k := KindInternal; k <= KindMethodNotAllowed; k++ {
		if !seen[k] {
			t.Errorf("kind %d has no test case", k)
		}
	}
}

func TestErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *Error
		want string
	}{
		{Errorf(KindUpstream, "provider %s failed", "x"), "provider x failed"},
		{InvalidParam("messages[0].role", "unsupported role %q", "bot"), `unsupported role "bot" (param messages[0].role)`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if e := InvalidParam("model", "x"); e.Kind != KindInvalidRequest || e.Param != "model" {
		t.Errorf("InvalidParam = %+v", e)
	}
}

func TestAsError(t *testing.T) {
	t.Parallel()
	own := &Error{Kind: KindRateLimit, Message: "slow down", RetryAfter: 3 * time.Second, Retryable: true}
	tests := []struct {
		name      string
		in        error
		same      *Error // when the result must be this very value
		kind      Kind
		retryable bool
	}{
		{name: "deadline", in: context.DeadlineExceeded, kind: KindTimeout, retryable: true},
		{name: "wrapped deadline", in: fmt.Errorf("post: %w", context.DeadlineExceeded), kind: KindTimeout, retryable: true},
		{name: "canceled", in: context.Canceled, kind: KindTimeout},
		{name: "wrapped canceled", in: fmt.Errorf("read: %w", context.Canceled), kind: KindTimeout},
		{name: "own error", in: own, same: own},
		{name: "wrapped own error", in: fmt.Errorf("stream: %w", own), same: own},
		{name: "plain error", in: errors.New("dial tcp 10.0.0.1:443: secret-detail"), kind: KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := AsError(tt.in)
			if got == nil {
				t.Fatal("AsError returned nil")
			}
			if tt.same != nil {
				if got != tt.same {
					t.Fatalf("AsError = %p %+v, want the wrapped *Error %p", got, got, tt.same)
				}
				return
			}
			if got.Kind != tt.kind || got.Retryable != tt.retryable {
				t.Fatalf("AsError = %+v, want kind %d retryable %v", got, tt.kind, tt.retryable)
			}
			if got.Message == "" {
				t.Fatal("AsError produced an empty message")
			}
			if strings.Contains(got.Message, tt.in.Error()) {
				t.Fatalf("AsError leaks the original error text: %q", got.Message)
			}
		})
	}
	if AsError(nil) != nil {
		t.Fatal("AsError(nil) != nil")
	}
}

func TestSplitSystemAndText(t *testing.T) {
	t.Parallel()
	r := &Request{Messages: []Message{
		{Role: RoleSystem, Content: []Part{Text("s1")}},
		{Role: RoleUser, Content: []Part{Text("u1")}},
		{Role: RoleSystem, Content: []Part{Text("s2")}},
		{Role: RoleAssistant, Content: []Part{Text("a1")}},
		{Role: RoleUser, Content: []Part{Text("hello "), {Type: PartImage, URL: "u"}, Text("world")}},
	}}
	sys, rest := r.SplitSystem()
	if !reflect.DeepEqual(sys, []Part{Text("s1"), Text("s2")}) {
		t.Errorf("system = %+v", sys)
	}
	if len(rest) != 3 || rest[0].Role != RoleUser || rest[1].Role != RoleAssistant || rest[2].Role != RoleUser {
		t.Errorf("rest = %+v", rest)
	}
	if got := r.LastUserText(); got != "hello world" {
		t.Errorf("LastUserText = %q", got)
	}
	if got := (&Request{}).LastUserText(); got != "" {
		t.Errorf("LastUserText of empty = %q", got)
	}
	if got := JoinText(nil); got != "" {
		t.Errorf("JoinText(nil) = %q", got)
	}
	resp := &Response{Content: []Part{Text("a"), Text("b")}}
	if resp.Text() != "ab" {
		t.Errorf("Response.Text = %q", resp.Text())
	}
}
