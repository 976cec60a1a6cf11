package openai

// Conformance with the official openai-go SDK: the SDK talks to a test
// server that uses this dialect, and must decode what it gets.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// answer is what the fake gateway does with a decoded request.
type answer struct {
	resp *unified.Response // the answer, streamed or not as the client asked
	fail *unified.Error    // WriteError, or Fail after resp's events when streaming
}

// gateway serves the dialect with a canned answer and hands every decoded
// request to got.
func gateway(t *testing.T, a answer, got chan<- *unified.Request) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, err := Dialect{}.DecodeRequest(body)
		if err != nil {
			Dialect{}.WriteError(w, unified.AsError(err))
			return
		}
		if got != nil {
			got <- req
		}
		m := &handlers.Meta{ID: "req1", Model: req.Model, Created: created, Request: req}
		if !req.Stream {
			if a.fail != nil {
				Dialect{}.WriteError(w, a.fail)
				return
			}
			Dialect{}.WriteResponse(w, a.resp, m)
			return
		}
		s := Dialect{}.NewStream(w, m)
		if a.resp != nil {
			for _, ev := range a.resp.Events() {
				if err := s.Event(ev); err != nil {
					return
				}
			}
		}
		if a.fail != nil {
			_ = s.Fail(a.fail)
			return
		}
		_ = s.End()
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		WriteModels(w, []string{"gpt-4o", "claude-sonnet-4.5"}, 1715367049)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func client(srv *httptest.Server) *sdk.Client {
	c := sdk.NewClient(
		option.WithBaseURL(srv.URL+"/v1/"),
		option.WithAPIKey("sk-client"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(10*time.Second),
	)
	return &c
}

var weatherTool = sdk.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: sdk.String("Current weather for a city"),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
})

var toolAnswer = &unified.Response{
	ID: "up", Model: "up-model",
	Content: []unified.Part{unified.Text("Let me check.")},
	ToolCalls: []unified.ToolCall{
		{ID: "call_Qm3VtW9xLk2Pz8Rb", Name: "get_weather", Arguments: `{"city": "Paris"}`},
		{ID: "call_Hn7YcJ2sDf4Gq1Xa", Name: "get_weather", Arguments: `{"city": "Tokyo"}`},
	},
	Finish: unified.FinishToolCalls,
	Usage:  unified.Usage{InputTokens: 74, OutputTokens: 46},
}

func TestSDKStream(t *testing.T) {
	t.Parallel()
	for _, includeUsage := range []bool{true, false} {
		t.Run("include_usage="+map[bool]string{true: "true", false: "false"}[includeUsage], func(t *testing.T) {
			t.Parallel()
			reqs := make(chan *unified.Request, 1)
			srv := gateway(t, answer{resp: toolAnswer}, reqs)
			params := sdk.ChatCompletionNewParams{
				Model: "gpt-4o",
				Messages: []sdk.ChatCompletionMessageParamUnion{
					sdk.SystemMessage("Answer briefly."),
					sdk.UserMessage("Weather in Paris and Tokyo?"),
				},
				Tools: []sdk.ChatCompletionToolUnionParam{weatherTool},
			}
			if includeUsage {
				params.StreamOptions = sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)}
			}
			stream := client(srv).Chat.Completions.NewStreaming(context.Background(), params)
			var acc sdk.ChatCompletionAccumulator
			chunks := 0
			for stream.Next() {
				if !acc.AddChunk(stream.Current()) {
					t.Fatalf("the accumulator refused chunk %d: %s", chunks, stream.Current().RawJSON())
				}
				chunks++
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}

			req := <-reqs
			if req.Model != "gpt-4o" || !req.Stream || req.IncludeUsage != includeUsage || len(req.Messages) != 2 ||
				len(req.Tools) != 1 || req.Tools[0].Name != "get_weather" {
				t.Errorf("decoded SDK request = %+v", req)
			}

			if acc.ID != "chatcmpl-req1" || acc.Model != "gpt-4o" || len(acc.Choices) != 1 {
				t.Fatalf("accumulated = %+v", acc.ChatCompletion)
			}
			ch := acc.Choices[0]
			if ch.Message.Content != "Let me check." || ch.FinishReason != "tool_calls" || ch.Message.Role != "assistant" {
				t.Errorf("message = %q finish %q role %q", ch.Message.Content, ch.FinishReason, ch.Message.Role)
			}
			if len(ch.Message.ToolCalls) != 2 {
				t.Fatalf("tool calls = %+v", ch.Message.ToolCalls)
			}
			for i, want := range toolAnswer.ToolCalls {
				got := ch.Message.ToolCalls[i]
				if got.ID != want.ID || got.Function.Name != want.Name || got.Function.Arguments != want.Arguments || got.Type != "function" {
					t.Errorf("tool call %d = %+v, want %+v", i, got, want)
				}
			}
			if includeUsage {
				if acc.Usage.PromptTokens != 74 || acc.Usage.CompletionTokens != 46 || acc.Usage.TotalTokens != 120 {
					t.Errorf("usage = %+v", acc.Usage)
				}
			} else if acc.Usage.TotalTokens != 0 {
				t.Errorf("usage sent without include_usage: %+v", acc.Usage)
			}
		})
	}
}

func TestSDKStreamFail(t *testing.T) {
	t.Parallel()
	srv := gateway(t, answer{
		resp: &unified.Response{Content: []unified.Part{unified.Text("The three largest")}},
		fail: &unified.Error{Kind: unified.KindUpstream, Message: "provider openai failed: The server had an error"},
	}, nil)
	stream := client(srv).Chat.Completions.NewStreaming(context.Background(), sdk.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("List them.")},
	})
	var text strings.Builder
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	err := stream.Err()
	if err == nil {
		t.Fatal("the SDK saw no error")
	}
	var se *ssestream.StreamError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "provider openai failed: The server had an error") {
		t.Errorf("err = %T %v", err, err)
	}
	if text.String() != "The three largest" {
		t.Errorf("text before the error = %q", text.String())
	}
}

func TestSDKNonStream(t *testing.T) {
	t.Parallel()
	reqs := make(chan *unified.Request, 1)
	srv := gateway(t, answer{resp: toolAnswer}, reqs)
	cc, err := client(srv).Chat.Completions.New(context.Background(), sdk.ChatCompletionNewParams{
		Model:               "gpt-4o",
		Messages:            []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("Weather?")},
		Tools:               []sdk.ChatCompletionToolUnionParam{weatherTool},
		MaxCompletionTokens: sdk.Int(100),
		Temperature:         sdk.Float(0.3),
	})
	if err != nil {
		t.Fatal(err)
	}
	req := <-reqs
	if req.Stream || req.MaxTokens == nil || *req.MaxTokens != 100 || req.Temperature == nil || *req.Temperature != 0.3 {
		t.Errorf("decoded SDK request = %+v", req)
	}
	if cc.ID != "chatcmpl-req1" || cc.Object != "chat.completion" || cc.Model != "gpt-4o" || len(cc.Choices) != 1 {
		t.Fatalf("completion = %s", cc.RawJSON())
	}
	m := cc.Choices[0].Message
	if m.Content != "Let me check." || len(m.ToolCalls) != 2 || m.ToolCalls[1].Function.Arguments != `{"city": "Tokyo"}` ||
		cc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("completion = %s", cc.RawJSON())
	}
	if cc.Usage.TotalTokens != 120 {
		t.Errorf("usage = %+v", cc.Usage)
	}
}

func TestSDKErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fail   *unified.Error
		status int
		typ    string
		code   string
		param  string
	}{
		{"rate limit", &unified.Error{Kind: unified.KindRateLimit, Message: "slow down", RetryAfter: time.Second}, 429, "requests", "rate_limit_exceeded", ""},
		{"quota", &unified.Error{Kind: unified.KindQuota, Message: "quota exhausted"}, 429, "insufficient_quota", "insufficient_quota", ""},
		{"auth", &unified.Error{Kind: unified.KindAuthentication, Message: "invalid API key"}, 401, "invalid_request_error", "invalid_api_key", ""},
		{"overloaded", &unified.Error{Kind: unified.KindOverloaded, Message: "overloaded"}, 503, "server_error", "service_unavailable", ""},
		{"param", unified.InvalidParam("messages[0].content", "bad content"), 400, "invalid_request_error", "", "messages[0].content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := gateway(t, answer{fail: tt.fail}, nil)
			_, err := client(srv).Chat.Completions.New(context.Background(), sdk.ChatCompletionNewParams{
				Model:    "gpt-4o",
				Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("Hi")},
			})
			var apiErr *sdk.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %T %v, want *openai.Error", err, err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Type != tt.typ || apiErr.Code != tt.code ||
				apiErr.Param != tt.param || apiErr.Message != tt.fail.Message {
				t.Errorf("SDK error = status %d type %q code %q param %q message %q",
					apiErr.StatusCode, apiErr.Type, apiErr.Code, apiErr.Param, apiErr.Message)
			}
		})
	}

	// A request the dialect rejects reaches the SDK as a 400 naming the field.
	srv := gateway(t, answer{resp: toolAnswer}, nil)
	_, err := client(srv).Chat.Completions.New(context.Background(), sdk.ChatCompletionNewParams{
		Model:    "",
		Messages: []sdk.ChatCompletionMessageParamUnion{sdk.UserMessage("Hi")},
	})
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "model" {
		t.Errorf("err = %v", err)
	}
}

func TestSDKModels(t *testing.T) {
	t.Parallel()
	srv := gateway(t, answer{}, nil)
	page, err := client(srv).Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.Object != "model" || m.Created != 1715367049 || m.OwnedBy != "xjp-gateway" {
			t.Errorf("model = %s", m.RawJSON())
		}
	}
	if strings.Join(ids, ",") != "gpt-4o,claude-sonnet-4.5" {
		t.Errorf("ids = %v", ids)
	}
}

// The recorded bytes of a stream, fed to the SDK's own SSE decoder and
// accumulator without any HTTP in between.
func TestSDKDecodesRecordedStream(t *testing.T) {
	t.Parallel()
	rec := run(t, meta(true), append(append([]step{}, toolSequence...), step{end: true}))
	res := &http.Response{StatusCode: 200, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes()))}
	stream := ssestream.NewStream[sdk.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var acc sdk.ChatCompletionAccumulator
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			t.Fatalf("chunk refused: %s", stream.Current().RawJSON())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	ch := acc.Choices[0]
	if ch.Message.Content != "Let me check." || ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 2 {
		t.Fatalf("accumulated = %s", acc.RawJSON())
	}
	if got := ch.Message.ToolCalls[0].Function.Arguments; got != `{"city":"Paris"}` {
		t.Errorf("arguments = %q", got)
	}
	if acc.Usage.PromptTokens != 82 || acc.Usage.CompletionTokens != 17 || acc.Usage.PromptTokensDetails.CachedTokens != 64 ||
		acc.Usage.CompletionTokensDetails.ReasoningTokens != 5 {
		t.Errorf("usage = %+v", acc.Usage)
	}
}

// Regression: a tool call that gets no argument fragments (a no-argument tool from
// an Anthropic upstream, whose only input_json_delta is "") is streamed
// with arguments "" and nothing after it (handlers/openai/stream.go: the
// start chunk always has "arguments":"" and empty deltas are skipped), so
// clients accumulate "" and fail to parse it. wire-formats §7.10 and §8.3
// (LiteLLM #5063): "If a tool produced no fragments, emit arguments:"{}"".
// unified.Collect already does this for non-streamed answers. Fix: remember
// in streamWriter which tool calls got a non-empty fragment and, in End
// before the finish chunk, send {"index":i,"function":{"arguments":"{}"}}
// for each one that got none.
func TestStreamToolCallWithoutArguments(t *testing.T) {
	t.Parallel()
	rec := run(t, meta(false), append(evs(
		unified.Event{Type: unified.EventToolCallStart, Index: 0, ID: "toolu_01", Name: "get_time"},
		unified.Event{Type: unified.EventToolCallDelta, Index: 0, Text: ""},
		unified.Event{Type: unified.EventFinish, Finish: unified.FinishToolCalls},
	), step{end: true}))
	res := &http.Response{StatusCode: 200, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes()))}
	stream := ssestream.NewStream[sdk.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
	var acc sdk.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].ID != "toolu_01" {
		t.Fatalf("tool calls = %+v", calls)
	}
	if calls[0].Function.Arguments != "{}" {
		t.Errorf("arguments = %q, want {}", calls[0].Function.Arguments)
	}
}
