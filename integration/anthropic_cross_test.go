package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	oaioption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// Translation between the dialects: Anthropic SDK → gateway → OpenRouter
// or echo, and OpenAI SDK → gateway → Anthropic.

func jsonEqual(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation for %s: %v", what, err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		t.Errorf("%s =\n%s\nwant\n%s", what, g, want)
	}
}

// --- Anthropic SDK → OpenRouter ---

func TestMessagesToOpenRouterNonStream(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, serveJSON(200, []byte(`{"id":"gen-1","object":"chat.completion","created":1733150400,"model":"openai/gpt-4o",
		"choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour !"},"finish_reason":"length"}],
		"usage":{"prompt_tokens":120,"completion_tokens":3,"total_tokens":123,"prompt_tokens_details":{"cached_tokens":100}}}`)))
	msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
		Model: "gpt-test", MaxTokens: 300,
		System:        []anthropic.TextBlockParam{{Text: "Answer in French."}, {Text: "Be brief."}},
		Messages:      userText("Hello"),
		StopSequences: []string{"END"},
		Metadata:      anthropic.MetadataParam{UserID: anthropic.String("user-7")},
	}, option.WithJSONSet("temperature", 0.4), option.WithJSONSet("top_k", 20))
	if err != nil {
		t.Fatal(err)
	}
	want := &anthropic.Message{ID: msg.ID, Model: "gpt-test", Role: "assistant", StopReason: "max_tokens",
		Content: []anthropic.ContentBlockUnion{{Type: "text", Text: "Bonjour !"}},
		Usage:   anthropic.Usage{InputTokens: 20, CacheReadInputTokens: 100, OutputTokens: 3}}
	if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
		t.Errorf("message =\n%s\nwant\n%s", got, exp)
	}
	up := fake.only(t)
	if up.Path != "/api/v1/chat/completions" || up.Header.Get("Authorization") != "Bearer "+providerKey {
		t.Errorf("upstream %s %v", up.Path, up.Header)
	}
	jsonEqual(t, "messages", up.Body["messages"], `[{"role":"system","content":"Answer in French."},{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}]`)
	for k, v := range map[string]any{"model": "openai/gpt-4o", "max_tokens": 300.0, "temperature": 0.4, "top_k": 20.0, "user": "user-7"} {
		if up.Body[k] != v {
			t.Errorf("upstream %s = %v, want %v", k, up.Body[k], v)
		}
	}
	jsonEqual(t, "stop", up.Body["stop"], `["END"]`)
	if _, ok := up.Body["metadata"]; ok {
		t.Error("Anthropic metadata forwarded to OpenRouter")
	}
}

// TestMessagesThinkingToOpenRouter: a thinking budget becomes
// reasoning_effort, and the reasoning comes back as a thinking block.
func TestMessagesThinkingToOpenRouter(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, serveJSON(200, []byte(`{"id":"gen-1","object":"chat.completion","created":1733150400,"model":"openai/gpt-4o",
		"choices":[{"index":0,"message":{"role":"assistant","content":"4","reasoning":"Two plus two."},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}`)))
	msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
		Model: "gpt-test", MaxTokens: 8000, Messages: userText("2+2?"),
		Thinking: anthropic.ThinkingConfigParamOfEnabled(5000),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || msg.Content[0].Type != "thinking" || msg.Content[0].Thinking != "Two plus two." || msg.Content[1].Text != "4" {
		t.Errorf("message = %s", msg.RawJSON())
	}
	up := fake.only(t)
	if up.Body["reasoning_effort"] != "medium" {
		t.Errorf("upstream reasoning_effort = %v", up.Body["reasoning_effort"])
	}
	if _, ok := up.Body["thinking"]; ok {
		t.Error("Anthropic's thinking member forwarded to OpenRouter")
	}
}

func TestMessagesToOpenRouterStream(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, serveSSE(fixture(t, "openrouter_stream_with_comments.sse")))
	msg, types, err := streamMessage(t, client, anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 64, Messages: userText("Write a haiku")})
	if err != nil {
		t.Fatal(err)
	}
	want := &anthropic.Message{ID: msg.ID, Model: "gpt-test", Role: "assistant", StopReason: "end_turn",
		Content: []anthropic.ContentBlockUnion{{Type: "text", Text: "Frost on the window,\nthe kettle hums a small song."}},
		Usage:   anthropic.Usage{InputTokens: 19, OutputTokens: 16}}
	if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
		t.Errorf("accumulated =\n%s\nwant\n%s", got, exp)
	}
	if got := strings.Join(types, " "); got != "message_start content_block_start content_block_delta content_block_delta content_block_stop message_delta message_stop" {
		t.Errorf("events = %s", got)
	}
	if up := fake.only(t); up.Body["stream"] != true {
		t.Errorf("upstream stream = %v", up.Body["stream"])
	}
}

func TestMessagesToOpenRouterToolUse(t *testing.T) {
	client := anthropicClient(t, "key-all")
	params := anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 256, Messages: userText("Weather in Paris and Tokyo?"),
		Tools:      []anthropic.ToolUnionParam{weatherToolParam},
		ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{DisableParallelToolUse: anthropic.Bool(true)}}}
	wantBlocks := []anthropic.ContentBlockUnion{
		{Type: "tool_use", ID: "call_Qm3VtW9xLk2Pz8Rb", Name: "get_weather", Input: []byte(`{"city":"Paris"}`)},
		{Type: "tool_use", ID: "call_Hn7YcJ2sDf4Gq1Xa", Name: "get_weather", Input: []byte(`{"city":"Tokyo"}`)},
	}
	t.Run("stream", func(t *testing.T) {
		fake.reset(t, serveSSE(fixture(t, "openai_stream_tool_call.sse")))
		msg, _, err := streamMessage(t, client, params)
		if err != nil {
			t.Fatal(err)
		}
		want := &anthropic.Message{ID: msg.ID, Model: "gpt-test", Role: "assistant", StopReason: "tool_use", Content: wantBlocks,
			Usage: anthropic.Usage{InputTokens: 74, OutputTokens: 46}}
		if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
			t.Errorf("accumulated =\n%s\nwant\n%s", got, exp)
		}
		up := fake.only(t)
		jsonEqual(t, "tools", up.Body["tools"], `[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city",
			"parameters":{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string"}},"required":["city"]}}}]`)
		if up.Body["tool_choice"] != "required" || up.Body["parallel_tool_calls"] != false {
			t.Errorf("tool_choice %v parallel %v", up.Body["tool_choice"], up.Body["parallel_tool_calls"])
		}
	})
	t.Run("non-stream", func(t *testing.T) {
		fake.reset(t, serveJSON(200, []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o",
			"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
			{"id":"call_Qm3VtW9xLk2Pz8Rb","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
			{"id":"call_Hn7YcJ2sDf4Gq1Xa","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Tokyo\"}"}}]},
			"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":74,"completion_tokens":46,"total_tokens":120}}`)))
		msg, err := client.Messages.New(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		want := &anthropic.Message{ID: msg.ID, Model: "gpt-test", Role: "assistant", StopReason: "tool_use", Content: wantBlocks,
			Usage: anthropic.Usage{InputTokens: 74, OutputTokens: 46}}
		if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
			t.Errorf("message =\n%s\nwant\n%s", got, exp)
		}
	})
}

func TestMessagesToOpenRouterToolResultRoundTrip(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, serveJSON(200, []byte(`{"id":"x","object":"chat.completion","created":1,"model":"m",
		"choices":[{"index":0,"message":{"role":"assistant","content":"Mild."},"finish_reason":"stop"}]}`)))
	params := toolResultConversation()
	params.Model = "gpt-test"
	msg, err := client.Messages.New(t.Context(), params)
	if err != nil || msg.Content[0].Text != "Mild." {
		t.Fatalf("%+v, %v", msg, err)
	}
	jsonEqual(t, "messages", fake.only(t).Body["messages"], `[
		{"role":"user","content":"Weather in Paris?"},
		{"role":"assistant","content":"Let me check.","tool_calls":[{"id":"toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp","type":"function",
			"function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp","content":"18°C, cloudy"},
		{"role":"user","content":"Is that warm?"}]`)
}

// Claude Code's Read tool returns images in tool results; OpenAI tool
// messages take only text, so the image follows in a user message.
func TestMessagesToOpenRouterToolResultWithImage(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, serveJSON(200, []byte(`{"id":"x","object":"chat.completion","created":1,"model":"m",
		"choices":[{"index":0,"message":{"role":"assistant","content":"A red pixel."},"finish_reason":"stop"}]}`)))
	result := anthropic.ToolResultBlockParam{ToolUseID: "toolu_read", Content: []anthropic.ToolResultBlockParamContentUnion{
		{OfText: &anthropic.TextBlockParam{Text: "pixel.png"}},
		{OfImage: &anthropic.ImageBlockParam{Source: anthropic.ImageBlockParamSourceUnion{OfBase64: &anthropic.Base64ImageSourceParam{MediaType: "image/png", Data: pngBase64}}}},
	}}
	_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 64, Messages: []anthropic.MessageParam{
		anthropic.NewUserMessage(anthropic.NewTextBlock("What is in pixel.png?")),
		anthropic.NewAssistantMessage(anthropic.NewToolUseBlock("toolu_read", map[string]any{"path": "pixel.png"}, "Read")),
		anthropic.NewUserMessage(anthropic.ContentBlockParamUnion{OfToolResult: &result}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := fake.only(t).Body["messages"].([]any)
	jsonEqual(t, "messages", msgs[2:], `[
		{"role":"tool","tool_call_id":"toolu_read","content":"pixel.png"},
		{"role":"user","content":[{"type":"text","text":"Attachments of the result of tool call toolu_read:"},
			{"type":"image_url","image_url":{"url":"data:image/png;base64,`+pngBase64+`"}}]}]`)
}

func TestMessagesToOpenRouterImage(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, serveJSON(200, []byte(`{"id":"x","object":"chat.completion","created":1,"model":"m",
		"choices":[{"index":0,"message":{"role":"assistant","content":"A cat."},"finish_reason":"stop"}]}`)))
	if _, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 64, Messages: imageMessage()}); err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "content", fake.only(t).Body["messages"].([]any)[0].(map[string]any)["content"], `[
		{"type":"text","text":"What is in these pictures?"},
		{"type":"image_url","image_url":{"url":"data:image/png;base64,`+pngBase64+`"}},
		{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]`)
}

func TestMessagesToOpenRouterErrors(t *testing.T) {
	client := anthropicClient(t, "key-all")
	t.Run("rate limit", func(t *testing.T) {
		fake.reset(t, serveJSON(429, fixture(t, "openai_error_429_rate_limit.json"), "Retry-After", "3"))
		_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 5, Messages: userText("hi")})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Type() != "rate_limit_error" || apiErr.Response.Header.Get("Retry-After") != "3" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("overloaded is 529 for Anthropic clients", func(t *testing.T) {
		fake.reset(t, serveJSON(503, []byte(`{"error":{"code":503,"message":"No provider available"}}`)))
		_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 5, Messages: userText("hi")})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 529 || apiErr.Type() != "overloaded_error" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		fake.reset(t, serveSSE(fixture(t, "openrouter_stream_midstream_error.sse")))
		msg, _, err := streamMessage(t, client, anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 5, Messages: userText("hi")})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.Type() != "api_error" || !strings.Contains(apiErr.Message, "Provider disconnected unexpectedly") {
			t.Fatalf("stream err = %v", err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Here is the first part" {
			t.Errorf("text before the error = %+v", msg.Content)
		}
	})
	t.Run("a server tool cannot be translated", func(t *testing.T) {
		fake.reset(t, serveJSON(500, []byte(`{}`)))
		_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 5, Messages: userText("hi"),
			Tools: []anthropic.ToolUnionParam{{OfWebSearchTool20250305: &anthropic.WebSearchTool20250305Param{}}}})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" ||
			!strings.Contains(apiErr.Message, "web_search_20250305") {
			t.Fatalf("err = %v", err)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if len(fake.requests) != 0 {
			t.Error("the request reached the upstream")
		}
	})
}

// --- Anthropic SDK → echo ---

func TestMessagesToEcho(t *testing.T) {
	client := anthropicClient(t, "key-echo-only")
	t.Run("text", func(t *testing.T) {
		msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "echo-1", MaxTokens: 50, Messages: userText("one two three")})
		if err != nil {
			t.Fatal(err)
		}
		want := &anthropic.Message{ID: msg.ID, Model: "echo-1", Role: "assistant", StopReason: "end_turn",
			Content: []anthropic.ContentBlockUnion{{Type: "text", Text: "one two three"}},
			Usage:   anthropic.Usage{InputTokens: 8, OutputTokens: 4}}
		if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
			t.Errorf("message =\n%s\nwant\n%s", got, exp)
		}
	})
	t.Run("stream", func(t *testing.T) {
		msg, types, err := streamMessage(t, client, anthropic.MessageNewParams{Model: "echo-1", MaxTokens: 50, Messages: userText("one two three")})
		if err != nil {
			t.Fatal(err)
		}
		want := &anthropic.Message{ID: msg.ID, Model: "echo-1", Role: "assistant", StopReason: "end_turn",
			Content: []anthropic.ContentBlockUnion{{Type: "text", Text: "one two three"}},
			Usage:   anthropic.Usage{InputTokens: 8, OutputTokens: 4}}
		if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
			t.Errorf("accumulated =\n%s\nwant\n%s", got, exp)
		}
		if got := strings.Join(types, " "); got != "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop" {
			t.Errorf("events = %s", got)
		}
	})
	params := anthropic.MessageNewParams{Model: "echo-1", MaxTokens: 100, Messages: userText("Paris"), Tools: []anthropic.ToolUnionParam{weatherToolParam}}
	wantCall := anthropic.ContentBlockUnion{Type: "tool_use", ID: "call_echo_0", Name: "get_weather", Input: []byte(`{"city":"Paris","unit":"Paris"}`)}
	t.Run("tool use stream", func(t *testing.T) {
		msg, _, err := streamMessage(t, client, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || messageSummary(t, &anthropic.Message{Content: msg.Content}) != messageSummary(t, &anthropic.Message{Content: []anthropic.ContentBlockUnion{wantCall}}) ||
			msg.StopReason != "tool_use" {
			t.Errorf("message = %s", messageSummary(t, msg))
		}
	})
	t.Run("tool use and the result round trip", func(t *testing.T) {
		msg, err := client.Messages.New(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].ID != wantCall.ID || string(msg.Content[0].Input) != string(wantCall.Input) || msg.StopReason != "tool_use" {
			t.Fatalf("message = %s", messageSummary(t, msg))
		}
		params.Messages = append(params.Messages, msg.ToParam(),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(msg.Content[0].ID, "18°C, cloudy", false)))
		second, err := client.Messages.New(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		if len(second.Content) != 1 || second.Content[0].Text != "18°C, cloudy" || second.StopReason != "end_turn" {
			t.Errorf("answer to the tool result = %s", messageSummary(t, second))
		}
	})
	t.Run("image", func(t *testing.T) {
		msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "echo-1", MaxTokens: 50, Messages: imageMessage()})
		if err != nil || msg.Content[0].Text != "What is in these pictures?" || msg.Usage.InputTokens < 512 {
			t.Fatalf("%s, %v", messageSummary(t, msg), err)
		}
	})
}

func TestMessagesErrorsAreAnthropicErrors(t *testing.T) {
	loadCaddyfile(t, anthropicConfig())
	tests := []struct {
		name, key, model string
		maxTokens        int64
		status           int
		typ              string
	}{
		{"unknown key", "nope", "echo-1", 5, 401, "authentication_error"},
		{"model outside the key's scope", "key-echo-only", "gpt-test", 5, 403, "permission_error"},
		{"unknown model", "key-all", "no-such-model", 5, 404, "not_found_error"},
		{"max_tokens missing", "key-all", "echo-1", 0, 400, "invalid_request_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := newAnthropicClient(ports.http, tt.key)
			opts := []option.RequestOption{}
			if tt.maxTokens == 0 {
				opts = append(opts, option.WithJSONDel("max_tokens"))
			}
			_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: anthropic.Model(tt.model), MaxTokens: tt.maxTokens, Messages: userText("hi")}, opts...)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Type() != anthropic.ErrorType(tt.typ) || apiErr.Message == "" {
				t.Errorf("got %d %q %q, want %d %q", apiErr.StatusCode, apiErr.Type(), apiErr.Message, tt.status, tt.typ)
			}
		})
	}
	t.Run("missing key", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gatewayURL(ports.http)+"/v1/messages",
			strings.NewReader(`{"model":"echo-1","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`))
		req.Header.Set("Anthropic-Version", "2023-06-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 401 || body.Type != "error" || body.Error.Type != "authentication_error" {
			t.Errorf("got %d %+v", resp.StatusCode, body)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, gatewayURL(ports.http)+"/v1/messages", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
			t.Errorf("got %d allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

// --- OpenAI SDK → Anthropic ---

func openAIClientFor(t *testing.T) openai.Client {
	t.Helper()
	loadCaddyfile(t, anthropicConfig())
	return openai.NewClient(oaioption.WithBaseURL(gatewayURL(ports.http)+"/v1"), oaioption.WithAPIKey("key-all"), oaioption.WithMaxRetries(0))
}

func TestChatToAnthropicNonStream(t *testing.T) {
	client := openAIClientFor(t)
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
		"content":[{"type":"text","text":"Bonjour !"}],"stop_reason":"stop_sequence","stop_sequence":"END",
		"usage":{"input_tokens":12,"cache_creation_input_tokens":3,"cache_read_input_tokens":100,"output_tokens":4}}`))))
	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "claude-test",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Answer in French."), openai.UserMessage("Hello"), openai.DeveloperMessage("Be brief."),
		},
		Temperature: openai.Float(1.5),
		Stop:        openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"END"}},
		User:        openai.String("user-7"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Bonjour !" || resp.Choices[0].FinishReason != "stop" || resp.Model != "claude-test" {
		t.Errorf("response = %s", resp.RawJSON())
	}
	// OpenAI's prompt_tokens counts the cached prompt too.
	if u := resp.Usage; u.PromptTokens != 115 || u.CompletionTokens != 4 || u.TotalTokens != 119 || u.PromptTokensDetails.CachedTokens != 100 {
		t.Errorf("usage = %+v", u)
	}
	up := fake.only(t)
	jsonEqual(t, "body", up.Body, `{"model":"claude-sonnet-4-5-20250929","max_tokens":8192,
		"system":[{"type":"text","text":"Answer in French."},{"type":"text","text":"Be brief."}],
		"messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}],
		"temperature":1,"stop_sequences":["END"],"metadata":{"user_id":"user-7"}}`)
	if up.Header.Get("Anthropic-Beta") != "" {
		t.Errorf("anthropic-beta sent for an OpenAI client: %q", up.Header.Get("Anthropic-Beta"))
	}
}

// TestChatReasoningEffortToAnthropic: an OpenAI client's reasoning_effort
// becomes a thinking budget, and the thinking comes back as
// reasoning_content.
func TestChatReasoningEffortToAnthropic(t *testing.T) {
	client := openAIClientFor(t)
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
		"content":[{"type":"thinking","thinking":"Two plus two.","signature":"sig"},{"type":"text","text":"4"}],"stop_reason":"end_turn","stop_sequence":null,
		"usage":{"input_tokens":12,"output_tokens":40}}`))))
	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "claude-test", Messages: userMessage("2+2?"), MaxCompletionTokens: openai.Int(500),
		ReasoningEffort: shared.ReasoningEffortLow, Temperature: openai.Float(0.2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "4" || !strings.Contains(resp.Choices[0].Message.RawJSON(), `"reasoning_content":"Two plus two."`) {
		t.Errorf("message = %s", resp.Choices[0].Message.RawJSON())
	}
	jsonEqual(t, "body", fake.only(t).Body, `{"model":"claude-sonnet-4-5-20250929","max_tokens":1524,
		"messages":[{"role":"user","content":[{"type":"text","text":"2+2?"}]}],
		"thinking":{"type":"enabled","budget_tokens":1024}}`)
}

func TestChatToAnthropicStream(t *testing.T) {
	client := openAIClientFor(t)
	fake.reset(t, fakeAnthropic(serveSSEEvents(fixture(t, "anthropic_stream_text.sse"))))
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model: "claude-test", Messages: userMessage("Write a haiku"), MaxTokens: openai.Int(64),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		if !acc.AddChunk(stream.Current()) {
			t.Fatal("accumulator refused a chunk")
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != "Frost on the window,\nthe kettle hums a small song." || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("accumulated = %+v", acc.Choices[0])
	}
	if acc.Usage.PromptTokens != 18 || acc.Usage.CompletionTokens != 17 || acc.Usage.TotalTokens != 35 {
		t.Errorf("usage = %+v", acc.Usage)
	}
	if up := fake.only(t); up.Body["stream"] != true || up.Body["max_tokens"] != 64.0 {
		t.Errorf("upstream stream %v max_tokens %v", up.Body["stream"], up.Body["max_tokens"])
	}
}

func TestChatToAnthropicToolUse(t *testing.T) {
	client := openAIClientFor(t)
	params := openai.ChatCompletionNewParams{Model: "claude-test", Messages: userMessage("Weather in Paris?"),
		Tools:             []openai.ChatCompletionToolUnionParam{weatherTool},
		ParallelToolCalls: openai.Bool(false)}
	t.Run("stream", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(serveSSEEvents(fixture(t, "anthropic_stream_tool_use.sse"))))
		stream := client.Chat.Completions.NewStreaming(t.Context(), params)
		acc := openai.ChatCompletionAccumulator{}
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		calls := acc.Choices[0].Message.ToolCalls
		// Anthropic's block 1 is the first tool call.
		if len(calls) != 1 || calls[0].ID != "toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp" || calls[0].Function.Name != "get_weather" ||
			calls[0].Function.Arguments != `{"city": "Paris", "unit": "celsius"}` {
			t.Errorf("tool calls = %+v", calls)
		}
		if acc.Choices[0].Message.Content != "I'll check the current weather in Paris." || acc.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("choice = %+v", acc.Choices[0])
		}
		up := fake.only(t)
		jsonEqual(t, "tools", up.Body["tools"], `[{"name":"get_weather","description":"Current weather for a city",
			"input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]`)
		jsonEqual(t, "tool_choice", up.Body["tool_choice"], `{"type":"auto","disable_parallel_tool_use":true}`)
	})
	t.Run("non-stream", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"m",
			"content":[{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}],
			"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":400,"output_tokens":40}}`))))
		resp, err := client.Chat.Completions.New(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		calls := resp.Choices[0].Message.ToolCalls
		if len(calls) != 1 || calls[0].ID != "toolu_01" || calls[0].Function.Arguments != `{"city":"Paris"}` || resp.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("response = %s", resp.RawJSON())
		}
	})
}

var regexpToolID = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func TestChatToAnthropicToolResultRoundTrip(t *testing.T) {
	client := openAIClientFor(t)
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_2","type":"message","role":"assistant","model":"m",
		"content":[{"type":"text","text":"Paris is mild, Tokyo warm."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":90,"output_tokens":8}}`))))
	assistant := openai.ChatCompletionAssistantMessageParam{ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{
		{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: "call_1", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
		{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: "functions.get_weather:1", Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_weather", Arguments: `{"city":"Tokyo"}`}}},
	}}
	resp, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "claude-test", Tools: []openai.ChatCompletionToolUnionParam{weatherTool},
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("Weather in Paris and Tokyo?"),
			{OfAssistant: &assistant},
			openai.ToolMessage("18°C", "call_1"),
			openai.ToolMessage("26°C", "functions.get_weather:1"),
		},
	})
	if err != nil || resp.Choices[0].Message.Content != "Paris is mild, Tokyo warm." {
		t.Fatalf("%v", err)
	}
	msgs := fake.only(t).Body["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("upstream messages = %v", msgs)
	}
	sanitized := msgs[1].(map[string]any)["content"].([]any)[1].(map[string]any)["id"].(string)
	if !regexpToolID.MatchString(sanitized) || sanitized == "functions.get_weather:1" {
		t.Errorf("tool id not sanitized: %q", sanitized)
	}
	jsonEqual(t, "messages", msgs, fmt.Sprintf(`[
		{"role":"user","content":[{"type":"text","text":"Weather in Paris and Tokyo?"}]},
		{"role":"assistant","content":[
			{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}},
			{"type":"tool_use","id":%q,"name":"get_weather","input":{"city":"Tokyo"}}]},
		{"role":"user","content":[
			{"type":"tool_result","tool_use_id":"call_1","content":"18°C"},
			{"type":"tool_result","tool_use_id":%q,"content":"26°C"}]}]`, sanitized, sanitized))
}

func TestChatToAnthropicImage(t *testing.T) {
	client := openAIClientFor(t)
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_3","type":"message","role":"assistant","model":"m",
		"content":[{"type":"text","text":"A cat."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":900,"output_tokens":3}}`))))
	_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "claude-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is in these pictures?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + pngBase64, Detail: "low"}),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/cat.jpg"}),
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "content", fake.only(t).Body["messages"].([]any)[0].(map[string]any)["content"], `[
		{"type":"text","text":"What is in these pictures?"},
		{"type":"image","source":{"type":"base64","media_type":"image/png","data":"`+pngBase64+`"}},
		{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]`)
}

func TestChatToAnthropicErrors(t *testing.T) {
	client := openAIClientFor(t)
	t.Run("overloaded", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(serveJSON(529, fixture(t, "anthropic_error_529.json"))))
		_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: "claude-test", Messages: userMessage("hi")})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Code != "service_unavailable" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(serveSSEEvents(fixture(t, "anthropic_stream_error.sse"))))
		stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{Model: "claude-test", Messages: userMessage("hi")})
		var text strings.Builder
		for stream.Next() {
			if c := stream.Current(); len(c.Choices) > 0 {
				text.WriteString(c.Choices[0].Delta.Content)
			}
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "Overloaded") {
			t.Fatalf("stream err = %v", err)
		}
		if text.String() != "The three largest" {
			t.Errorf("text before the error = %q", text.String())
		}
	})
	t.Run("n > 1", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(serveJSON(500, []byte(`{}`))))
		_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: "claude-test", Messages: userMessage("hi"), N: openai.Int(2)})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "n" {
			t.Fatalf("err = %v", err)
		}
	})
}

// --- Keep-alives ---

// TestStreamKeepAlive holds the upstream silent after its first event
// until the client has seen a keep-alive, on the site configured with
// stream_keepalive 5ms: a ping event for Anthropic clients, an SSE
// comment for OpenAI clients.
func TestStreamKeepAlive(t *testing.T) {
	loadCaddyfile(t, anthropicConfig())
	tests := []struct {
		name, path, body, ping, last string
		upstream                     func(release <-chan struct{}) http.HandlerFunc
	}{
		{
			name: "anthropic client, anthropic upstream", path: "/v1/messages",
			body: `{"model":"claude-test","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			ping: "event: ping", last: "event: message_stop",
			upstream: func(release <-chan struct{}) http.HandlerFunc {
				body := string(fixture(t, "anthropic_stream_text.sse"))
				i := strings.Index(body, "\n\n") + 2 // after message_start, before the upstream's own ping
				return fakeAnthropic(pausedStream(release, []byte(body[:i]), []byte(body[i:])))
			},
		},
		{
			name: "openai client, openrouter upstream", path: "/v1/chat/completions",
			body: `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			ping: ": ping", last: "data: [DONE]",
			upstream: func(release <-chan struct{}) http.HandlerFunc {
				body := string(fixture(t, "openai_stream_text.sse"))
				i := strings.Index(body, "\n\n") + 2
				return pausedStream(release, []byte(body[:i]), []byte(body[i:]))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			fake.reset(t, tt.upstream(release))
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gatewayURL(ports.alt)+tt.path, strings.NewReader(tt.body))
			req.Header.Set("X-Api-Key", "key-all")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			var lines []string
			released := false
			for sc.Scan() {
				line := sc.Text()
				lines = append(lines, line)
				if line == tt.ping && !released {
					released = true
					close(release)
				}
			}
			if !released {
				t.Fatalf("no keep-alive in:\n%s", strings.Join(lines, "\n"))
			}
			if !strings.Contains(strings.Join(lines, "\n"), tt.last) {
				t.Errorf("the stream did not finish after the keep-alive:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}

// pausedStream sends first, waits until release is closed (or the
// request ends), then sends rest.
func pausedStream(release <-chan struct{}, first, rest []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Second):
			return
		}
		_, _ = w.Write(rest)
	}
}
