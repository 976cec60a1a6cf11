package openai

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

const haiku = "Frost on the window,\nthe kettle hums a small song."

func TestStreamFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		typ     string // openai or openrouter
		body    []byte
		want    *unified.Response
		wantErr string // substring of the *unified.Error (KindUpstream) message
	}{
		{
			name: "openrouter with comments",
			typ:  "openrouter",
			body: fixture(t, "openrouter_stream_with_comments.sse"),
			want: &unified.Response{
				ID: "gen-1733150400-Kx8pQ2mZrT5vW9bN3cYd", Model: "anthropic/claude-sonnet-4.5",
				Content: []unified.Part{unified.Text(haiku)},
				Finish:  unified.FinishStop,
				Usage:   unified.Usage{InputTokens: 19, OutputTokens: 16},
			},
		},
		{
			name: "openai text",
			typ:  "openai",
			body: fixture(t, "openai_stream_text.sse"),
			want: &unified.Response{
				ID: "chatcmpl-AbC9xKq2TnR8c1vLw0aZb7YdE4f", Model: "gpt-4o-mini-2024-07-18",
				Content: []unified.Part{unified.Text(haiku)},
				Finish:  unified.FinishStop,
				Usage:   unified.Usage{InputTokens: 21, OutputTokens: 14},
			},
		},
		{
			name: "openai two tool calls",
			typ:  "openai",
			body: fixture(t, "openai_stream_tool_call.sse"),
			want: &unified.Response{
				ID: "chatcmpl-AbD1rT5uYw3Lk8Qp2Zx6Vc9Nm4h", Model: "gpt-4o-2024-08-06",
				ToolCalls: []unified.ToolCall{
					{ID: "call_Qm3VtW9xLk2Pz8Rb", Name: "get_weather", Arguments: `{"city": "Paris"}`},
					{ID: "call_Hn7YcJ2sDf4Gq1Xa", Name: "get_weather", Arguments: `{"city": "Tokyo"}`},
				},
				Finish: unified.FinishToolCalls,
				Usage:  unified.Usage{InputTokens: 74, OutputTokens: 46},
			},
		},
		{
			name:    "openai mid-stream error",
			typ:     "openai",
			body:    fixture(t, "openai_stream_midstream_error.sse"),
			wantErr: "The server had an error while processing your request",
		},
		{
			name:    "openrouter mid-stream error",
			typ:     "openrouter",
			body:    fixture(t, "openrouter_stream_midstream_error.sse"),
			wantErr: "Provider disconnected unexpectedly",
		},
		{
			name:    "clewdr: no finish_reason, no [DONE]",
			typ:     "openai",
			body:    fixture(t, "clewdr_oai_stream.sse"),
			wantErr: "ended before the answer was complete",
		},
		{
			name:    "truncated: text then EOF",
			typ:     "openrouter",
			body:    cutAt(t, fixture(t, "openrouter_stream_with_comments.sse"), `"finish_reason":"stop"`),
			wantErr: "ended before the answer was complete",
		},
		{
			name:    "empty body",
			typ:     "openai",
			body:    nil,
			wantErr: "ended before the answer was complete",
		},
		{
			name: "finish_reason and usage but no [DONE]",
			typ:  "openai",
			body: []byte(strings.TrimSuffix(string(fixture(t, "openai_stream_text.sse")), "data: [DONE]\n\n")),
			want: &unified.Response{
				ID: "chatcmpl-AbC9xKq2TnR8c1vLw0aZb7YdE4f", Model: "gpt-4o-mini-2024-07-18",
				Content: []unified.Part{unified.Text(haiku)},
				Finish:  unified.FinishStop,
				Usage:   unified.Usage{InputTokens: 21, OutputTokens: 14},
			},
		},
		{
			name: "[DONE] without finish_reason",
			typ:  "openai",
			body: []byte(`data: {"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\n" +
				"data: [DONE]\n\n"),
			want: &unified.Response{ID: "c1", Model: "m", Content: []unified.Part{unified.Text("hi")}, Finish: unified.FinishStop},
		},
		{
			name: "CRLF separators, reasoning, length, cached and reasoning tokens",
			typ:  "openrouter",
			body: []byte(strings.ReplaceAll(`data: {"id":"gen-1","model":"deepseek/r1","choices":[{"index":0,"delta":{"role":"assistant","reasoning":"Think"},"finish_reason":null}]}

data: {"id":"gen-1","model":"deepseek/r1","choices":[{"index":0,"delta":{"reasoning_content":"ing."},"finish_reason":null}]}

data: {"id":"gen-1","model":"deepseek/r1","choices":[{"index":0,"delta":{"content":"Done"},"finish_reason":null},{"index":1,"delta":{"content":"IGNORED"},"finish_reason":null}]}

data: {"id":"gen-1","model":"deepseek/r1","choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":50,"completion_tokens":30,"total_tokens":80,"prompt_tokens_details":{"cached_tokens":20,"cache_write_tokens":5},"completion_tokens_details":{"reasoning_tokens":12}}}

data: [DONE]

`, "\n", "\r\n")),
			want: &unified.Response{
				ID: "gen-1", Model: "deepseek/r1",
				Content:   []unified.Part{unified.Text("Done")},
				Reasoning: "Thinking.",
				Finish:    unified.FinishLength,
				Usage:     unified.Usage{InputTokens: 50, OutputTokens: 30, CachedInput: 20, CacheWriteInput: 5, ReasoningTokens: 12},
			},
		},
		{
			name: "upstream tool indexes start at 3; finish stop with calls becomes tool_calls",
			typ:  "openai",
			body: []byte(`data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"id":"call_x","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}

data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"function":{"arguments":"{\"a\":1}"}}]},"finish_reason":null}]}

data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":5,"id":"call_y","type":"function","function":{"name":"g","arguments":""}}]},"finish_reason":"stop"}]}

data: [DONE]

`),
			want: &unified.Response{
				ID: "c", Model: "m",
				ToolCalls: []unified.ToolCall{
					{ID: "call_x", Name: "f", Arguments: `{"a":1}`},
					{ID: "call_y", Name: "g", Arguments: "{}"},
				},
				Finish: unified.FinishToolCalls,
			},
		},
		{
			name:    "finish_reason error without an error object",
			typ:     "openrouter",
			body:    []byte(`data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"error"}]}` + "\n\n"),
			wantErr: "failed while generating",
		},
		{
			name:    "unreadable chunk",
			typ:     "openai",
			body:    []byte("data: {\"id\":\n\n"),
			wantErr: "unreadable stream event",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := serveFixed(t, sseReply(tt.body))
			var c connectors.Connector
			if tt.typ == "openrouter" {
				c = newOpenRouter(t, up.URL, nil)
			} else {
				c = newOpenAI(t, up.URL, nil)
			}
			s, err := c.Stream(context.Background(), simpleRequest())
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			got, err := unified.Collect(s)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Collect = %+v, want an error containing %q", got, tt.wantErr)
				}
				ue := asUnified(t, err)
				if ue.Kind != unified.KindUpstream {
					t.Errorf("kind = %d, want KindUpstream", ue.Kind)
				}
				if !strings.Contains(ue.Message, tt.wantErr) {
					t.Errorf("message %q does not contain %q", ue.Message, tt.wantErr)
				}
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

// cutAt returns body up to the start of the event that contains marker.
func cutAt(t *testing.T, body []byte, marker string) []byte {
	t.Helper()
	i := strings.Index(string(body), marker)
	if i < 0 {
		t.Fatalf("marker %q not in fixture", marker)
	}
	j := strings.LastIndex(string(body[:i]), "\n\n")
	return body[:j+2]
}

func TestStreamEvents(t *testing.T) {
	t.Parallel()
	up := serveFixed(t, sseReply(fixture(t, "openai_stream_tool_call.sse")))
	s, err := newOpenAI(t, up.URL, nil).Stream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	var got []unified.Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	want := []unified.Event{
		{Type: unified.EventStart, ID: "chatcmpl-AbD1rT5uYw3Lk8Qp2Zx6Vc9Nm4h", Name: "gpt-4o-2024-08-06"},
		{Type: unified.EventToolCallStart, Index: 0, ID: "call_Qm3VtW9xLk2Pz8Rb", Name: "get_weather"},
		{Type: unified.EventToolCallDelta, Index: 0, Text: `{"ci`},
		{Type: unified.EventToolCallDelta, Index: 0, Text: `ty": "Paris"}`},
		{Type: unified.EventToolCallStart, Index: 1, ID: "call_Hn7YcJ2sDf4Gq1Xa", Name: "get_weather"},
		{Type: unified.EventToolCallDelta, Index: 1, Text: `{"city": `},
		{Type: unified.EventToolCallDelta, Index: 1, Text: `"Tokyo"}`},
		{Type: unified.EventFinish, Finish: unified.FinishToolCalls},
		{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 74, OutputTokens: 46}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := s.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after EOF = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStreamSynthesizesMissingToolCallID(t *testing.T) {
	t.Parallel()
	body := `data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}` + "\n\ndata: [DONE]\n\n"
	up := serveFixed(t, sseReply([]byte(body)))
	s, err := newOpenRouter(t, up.URL, nil).Stream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := unified.Collect(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.ToolCalls) != 1 || !strings.HasPrefix(resp.ToolCalls[0].ID, "call_") || len(resp.ToolCalls[0].ID) <= len("call_") {
		t.Fatalf("tool calls = %+v, want one with a synthesized call_ id", resp.ToolCalls)
	}
}

const firstChunk = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}` + "\n\n"

// Cancelling the caller's context while the upstream is silent must end
// Next at once.
func TestStreamCancelWhileBlocked(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, firstChunk)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	p := newOpenAI(t, srv.URL, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := p.Stream(ctx, simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, want := range []unified.EventType{unified.EventStart, unified.EventText} {
		ev, err := s.Next()
		if err != nil || ev.Type != want {
			t.Fatalf("Next = %+v, %v; want type %d", ev, err, want)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next()
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Next returned no error after cancel")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after the context was cancelled")
	}
}

// A connection that drops mid-stream is a failure, not a clean end.
func TestStreamConnectionDropped(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, firstChunk)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // close the connection without ending the body
	}))
	t.Cleanup(srv.Close)
	s, err := newOpenRouter(t, srv.URL, nil).Stream(context.Background(), simpleRequest())
	if err != nil {
		t.Fatal(err)
	}
	_, err = unified.Collect(s)
	if ue := asUnified(t, err); ue.Kind != unified.KindUpstream {
		t.Fatalf("kind = %d (%v), want KindUpstream", ue.Kind, ue)
	}
}

func TestStreamCancelledBeforeRequest(t *testing.T) {
	t.Parallel()
	up := serveFixed(t, sseReply(fixture(t, "openai_stream_text.sse")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newOpenAI(t, up.URL, nil).Stream(ctx, simpleRequest())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestUnreachableProvider(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	for name, c := range providers(t, url) {
		_, err := c.Generate(context.Background(), simpleRequest())
		ue := asUnified(t, err)
		if ue.Kind != unified.KindUpstream || !ue.Retryable {
			t.Errorf("%s: err = %+v, want retryable KindUpstream", name, ue)
		}
		if strings.Contains(ue.Message, strings.TrimPrefix(url, "http://")) {
			t.Errorf("%s: message leaks the upstream address: %q", name, ue.Message)
		}
	}
}
