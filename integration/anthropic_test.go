package integration

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// Anthropic SDK → gateway → Anthropic (and Clewdr): the request and the
// answer pass through unchanged, but for the model name and the id.

var weatherToolParam = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Current weather for a city"),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}, "unit": map[string]any{"type": "string"}},
		Required:   []string{"city"},
	},
}}

func userText(text string) []anthropic.MessageParam {
	return []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}
}

// requestBody is what the SDK sends for params, as generic JSON.
func requestBody(t *testing.T, params any) map[string]any {
	t.Helper()
	b, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// wantPassthrough checks that the upstream received exactly the client's
// body, with the upstream model name (and the stream flag) set.
func wantPassthrough(t *testing.T, params any, upstreamModel string, stream bool) recorded {
	t.Helper()
	up := fake.only(t)
	want := requestBody(t, params)
	want["model"] = upstreamModel
	if stream {
		want["stream"] = true
	}
	if !reflect.DeepEqual(up.Body, want) {
		got, _ := json.Marshal(up.Body)
		exp, _ := json.Marshal(want)
		t.Errorf("upstream body\n%s\nwant\n%s", got, exp)
	}
	return up
}

func TestMessagesToAnthropicNonStream(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_01Xb7Gq2LmN9pRt4VwZa3Ks8","type":"message","role":"assistant",
		"model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Bonjour !"}],"stop_reason":"end_turn","stop_sequence":null,
		"usage":{"input_tokens":12,"cache_creation_input_tokens":3,"cache_read_input_tokens":100,"output_tokens":4,"service_tier":"standard"}}`))))

	params := anthropic.MessageNewParams{
		Model:     "claude-test",
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "Answer in French.", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages:  userText("Hello"),
		Metadata:  anthropic.MetadataParam{UserID: anthropic.String("user-7")},
	}
	var httpResp *http.Response
	msg, err := client.Messages.New(t.Context(), params,
		option.WithHeader("anthropic-beta", "prompt-caching-2024-07-31"), option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	want := &anthropic.Message{ID: "msg_" + httpResp.Header.Get("X-Request-Id"), Model: "claude-test", Role: "assistant",
		StopReason: "end_turn", Content: []anthropic.ContentBlockUnion{{Type: "text", Text: "Bonjour !"}},
		Usage: anthropic.Usage{InputTokens: 12, CacheCreationInputTokens: 3, CacheReadInputTokens: 100, OutputTokens: 4}}
	if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
		t.Errorf("message =\n%s\nwant\n%s", got, exp)
	}
	if httpResp.Header.Get("X-Xjp-Provider") != "ant" || httpResp.Header.Get("Request-Id") != httpResp.Header.Get("X-Request-Id") {
		t.Errorf("headers = %v", httpResp.Header)
	}
	up := wantPassthrough(t, params, "claude-sonnet-4-5-20250929", false)
	if up.Path != "/anthropic/v1/messages" {
		t.Errorf("upstream path %q", up.Path)
	}
	if got := up.Header.Get("Anthropic-Beta"); got != "prompt-caching-2024-07-31" {
		t.Errorf("anthropic-beta upstream = %q", got)
	}
	if up.Header.Get("X-Api-Key") != anthropicKey || up.Header.Get("Authorization") != "" {
		t.Errorf("the client's key reached the upstream: %v", up.Header)
	}
}

func TestMessagesToAnthropicStream(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, fakeAnthropic(serveSSEEvents(fixture(t, "anthropic_stream_text.sse"))))
	params := anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 256, Messages: userText("Write a haiku")}
	var httpResp *http.Response
	msg, types, err := streamMessage(t, client, params, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	want := &anthropic.Message{ID: "msg_" + httpResp.Header.Get("X-Request-Id"), Model: "claude-test", Role: "assistant",
		StopReason: "end_turn", Content: []anthropic.ContentBlockUnion{{Type: "text", Text: "Frost on the window,\nthe kettle hums a small song."}},
		Usage: anthropic.Usage{InputTokens: 18, OutputTokens: 17}}
	if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
		t.Errorf("accumulated =\n%s\nwant\n%s", got, exp)
	}
	if types[0] != "message_start" || types[len(types)-1] != "message_stop" {
		t.Errorf("events = %v", types)
	}
	wantPassthrough(t, params, "claude-sonnet-4-5-20250929", true)
}

func TestMessagesToAnthropicToolUse(t *testing.T) {
	client := anthropicClient(t, "key-all")
	params := anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 256, Messages: userText("Weather in Paris?"),
		Tools: []anthropic.ToolUnionParam{weatherToolParam}, ToolChoice: anthropic.ToolChoiceParamOfTool("get_weather")}
	wantBlocks := []anthropic.ContentBlockUnion{
		{Type: "text", Text: "I'll check the current weather in Paris."},
		{Type: "tool_use", ID: "toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp", Name: "get_weather", Input: []byte(`{"city":"Paris","unit":"celsius"}`)},
	}

	t.Run("stream", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(serveSSEEvents(fixture(t, "anthropic_stream_tool_use.sse"))))
		msg, _, err := streamMessage(t, client, params)
		if err != nil {
			t.Fatal(err)
		}
		want := &anthropic.Message{ID: msg.ID, Model: "claude-test", Role: "assistant", StopReason: "tool_use", Content: wantBlocks,
			Usage: anthropic.Usage{InputTokens: 412, OutputTokens: 58}}
		if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
			t.Errorf("accumulated =\n%s\nwant\n%s", got, exp)
		}
		wantPassthrough(t, params, "claude-sonnet-4-5-20250929", true)
	})
	t.Run("non-stream", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
			"content":[{"type":"text","text":"I'll check the current weather in Paris."},
			{"type":"tool_use","id":"toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp","name":"get_weather","input":{"city":"Paris","unit":"celsius"}}],
			"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":412,"output_tokens":58}}`))))
		msg, err := client.Messages.New(t.Context(), params)
		if err != nil {
			t.Fatal(err)
		}
		want := &anthropic.Message{ID: msg.ID, Model: "claude-test", Role: "assistant", StopReason: "tool_use", Content: wantBlocks,
			Usage: anthropic.Usage{InputTokens: 412, OutputTokens: 58}}
		if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
			t.Errorf("message =\n%s\nwant\n%s", got, exp)
		}
	})
}

// toolResultConversation is a second turn: the assistant's tool call and
// its result (with cache_control, as Claude Code sends it), an image and
// a follow-up question.
func toolResultConversation() anthropic.MessageNewParams {
	result := anthropic.ToolResultBlockParam{ToolUseID: "toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp",
		Content:      []anthropic.ToolResultBlockParamContentUnion{{OfText: &anthropic.TextBlockParam{Text: "18°C, cloudy"}}},
		CacheControl: anthropic.NewCacheControlEphemeralParam()}
	return anthropic.MessageNewParams{
		Model: "claude-test", MaxTokens: 256,
		Tools: []anthropic.ToolUnionParam{weatherToolParam},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock("Weather in Paris?")),
			anthropic.NewAssistantMessage(anthropic.NewTextBlock("Let me check."),
				anthropic.NewToolUseBlock("toolu_01A9bQ3rXk7TmW2cVn5Ed8Lp", map[string]any{"city": "Paris"}, "get_weather")),
			anthropic.NewUserMessage(anthropic.ContentBlockParamUnion{OfToolResult: &result},
				anthropic.NewTextBlock("Is that warm?")),
		},
	}
}

func TestMessagesToAnthropicToolResultRoundTrip(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_2","type":"message","role":"assistant","model":"m",
		"content":[{"type":"text","text":"Mild."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":90,"output_tokens":2}}`))))
	params := toolResultConversation()
	msg, err := client.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "Mild." {
		t.Errorf("answer = %+v", msg.Content)
	}
	wantPassthrough(t, params, "claude-sonnet-4-5-20250929", false)
}

const pngBase64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func imageMessage() []anthropic.MessageParam {
	return []anthropic.MessageParam{anthropic.NewUserMessage(
		anthropic.NewTextBlock("What is in these pictures?"),
		anthropic.NewImageBlockBase64("image/png", pngBase64),
		anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: "https://example.com/cat.jpg"}),
	)}
}

func TestMessagesToAnthropicImage(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_3","type":"message","role":"assistant","model":"m",
		"content":[{"type":"text","text":"A pixel and a cat."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":900,"output_tokens":6}}`))))
	params := anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 64, Messages: imageMessage()}
	if _, err := client.Messages.New(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	wantPassthrough(t, params, "claude-sonnet-4-5-20250929", false)
}

// TestMessagesToAnthropicIsLossless streams what the gateway does not
// model (thinking with its signature, redacted thinking, server tool
// blocks, citations, pause_turn, server tool usage) and checks that the
// client gets all of it.
func TestMessagesToAnthropicIsLossless(t *testing.T) {
	client := anthropicClient(t, "key-all")
	stream := messagesSSE(false,
		sseEvent{"message_start", `{"type":"message_start","message":{"id":"msg_up","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":50,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`},
		sseEvent{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`},
		sseEvent{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"I should search."}}`},
		sseEvent{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCkYIBxgCKkBsig"}}`},
		sseEvent{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		sseEvent{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"}}`},
		sseEvent{"content_block_stop", `{"type":"content_block_stop","index":1}`},
		sseEvent{"content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"server_tool_use","id":"srvtoolu_01","name":"web_search","input":{}}}`},
		sseEvent{"content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"weather paris\"}"}}`},
		sseEvent{"content_block_stop", `{"type":"content_block_stop","index":2}`},
		sseEvent{"content_block_start", `{"type":"content_block_start","index":3,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_01","content":[{"type":"web_search_result","title":"Paris weather","url":"https://weather.example/paris","encrypted_content":"Eo8B","page_age":null}]}}`},
		sseEvent{"content_block_stop", `{"type":"content_block_stop","index":3}`},
		sseEvent{"content_block_start", `{"type":"content_block_start","index":4,"content_block":{"type":"text","text":"","citations":[]}}`},
		sseEvent{"content_block_delta", `{"type":"content_block_delta","index":4,"delta":{"type":"citations_delta","citation":{"type":"web_search_result_location","cited_text":"18°C","url":"https://weather.example/paris","title":"Paris weather","encrypted_index":"Eo8"}}}`},
		sseEvent{"content_block_delta", `{"type":"content_block_delta","index":4,"delta":{"type":"text_delta","text":"It is 18°C."}}`},
		sseEvent{"content_block_stop", `{"type":"content_block_stop","index":4}`},
		sseEvent{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"pause_turn","stop_sequence":null},"usage":{"output_tokens":80,"server_tool_use":{"web_search_requests":1}}}`},
		sseEvent{"message_stop", `{"type":"message_stop"}`},
	)
	fake.reset(t, fakeAnthropic(serveSSEEvents(stream)))
	params := anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 4096, Messages: userText("Weather in Paris?"),
		Thinking: anthropic.ThinkingConfigParamOfEnabled(2048),
		Tools:    []anthropic.ToolUnionParam{{OfWebSearchTool20250305: &anthropic.WebSearchTool20250305Param{MaxUses: anthropic.Int(2)}}}}
	msg, _, err := streamMessage(t, client, params, option.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14"))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, c := range msg.Content {
		types = append(types, c.Type)
	}
	if strings.Join(types, ",") != "thinking,redacted_thinking,server_tool_use,web_search_tool_result,text" {
		t.Fatalf("blocks = %v", types)
	}
	c := msg.Content
	if c[0].Thinking != "I should search." || c[0].Signature != "EqQBCkYIBxgCKkBsig" || c[1].Data != "EmwKAhgBEgy3va3pzix" ||
		string(c[2].Input) != `{"query":"weather paris"}` || c[4].Text != "It is 18°C." || len(c[4].Citations) != 1 ||
		c[4].Citations[0].URL != "https://weather.example/paris" {
		t.Errorf("content = %s", msg.RawJSON())
	}
	if msg.StopReason != "pause_turn" || msg.Usage.ServerToolUse.WebSearchRequests != 1 || msg.Usage.OutputTokens != 80 {
		t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
	}
	up := wantPassthrough(t, params, "claude-sonnet-4-5-20250929", true)
	if up.Header.Get("Anthropic-Beta") != "interleaved-thinking-2025-05-14" {
		t.Errorf("anthropic-beta = %q", up.Header.Get("Anthropic-Beta"))
	}

	// The next turn replays the thinking blocks and the server tool
	// blocks; they reach Anthropic exactly as the client sent them.
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"id":"msg_4","type":"message","role":"assistant","model":"m",
		"content":[{"type":"text","text":"Yes."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`))))
	params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("Sure?")))
	if _, err := client.Messages.New(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	wantPassthrough(t, params, "claude-sonnet-4-5-20250929", false)
}

func TestMessagesToAnthropicErrors(t *testing.T) {
	client := anthropicClient(t, "key-all")
	tests := []struct {
		name       string
		respond    http.HandlerFunc
		status     int
		typ        string
		message    string
		retryAfter string
	}{
		{"overloaded", serveJSON(529, fixture(t, "anthropic_error_529.json")), 529, "overloaded_error", "Overloaded", ""},
		{"rate limited", serveJSON(429, fixture(t, "anthropic_error_429.json"), "Retry-After", "20"), 429, "rate_limit_error", "rate limit", "20"},
		{"bad request", serveJSON(400, fixture(t, "anthropic_error_400_tool_result.json")), 400, "invalid_request_error", "tool_use_id", ""},
		{"the provider refuses the gateway's key", serveJSON(401, fixture(t, "anthropic_error_401.json")), 502, "api_error", "rejected the gateway's credentials", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.reset(t, fakeAnthropic(tt.respond))
			_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 5, Messages: userText("hi")})
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Type() != anthropic.ErrorType(tt.typ) || !strings.Contains(apiErr.Message, tt.message) {
				t.Errorf("got %d %q %q, want %d %q ~%q", apiErr.StatusCode, apiErr.Type(), apiErr.Message, tt.status, tt.typ, tt.message)
			}
			if apiErr.RequestID == "" {
				t.Error("no request id")
			}
			if got := apiErr.Response.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("retry-after = %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(apiErr.RawJSON(), anthropicKey) || strings.Contains(apiErr.RawJSON(), "invalid x-api-key") {
				t.Errorf("error leaks provider details: %s", apiErr.RawJSON())
			}
		})
	}
	t.Run("mid-stream", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(serveSSEEvents(fixture(t, "anthropic_stream_error.sse"))))
		msg, _, err := streamMessage(t, client, anthropic.MessageNewParams{Model: "claude-test", MaxTokens: 5, Messages: userText("hi")})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.Type() != "overloaded_error" || apiErr.Message != "Overloaded" {
			t.Fatalf("stream err = %v", err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "The three largest" {
			t.Errorf("text before the error = %+v", msg.Content)
		}
	})
}

func TestCountTokens(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, fakeAnthropic(serveJSON(200, []byte(`{"input_tokens":2095}`))))
	params := anthropic.MessageCountTokensParams{Model: "claude-test", Messages: userText("Hello, Claude"),
		System: anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("Be brief.")},
		Tools:  []anthropic.MessageCountTokensToolUnionParam{{OfTool: weatherToolParam.OfTool}}}
	var httpResp *http.Response
	n, err := client.Messages.CountTokens(t.Context(), params, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	if n.InputTokens != 2095 || httpResp.Header.Get("X-Xjp-Token-Count") != "exact" {
		t.Errorf("count %d (%s)", n.InputTokens, httpResp.Header.Get("X-Xjp-Token-Count"))
	}
	up := fake.only(t)
	want := requestBody(t, params)
	want["model"] = "claude-sonnet-4-5-20250929"
	if up.Path != "/anthropic/v1/messages/count_tokens" || !reflect.DeepEqual(up.Body, want) {
		t.Errorf("upstream %s %v", up.Path, up.Body)
	}

	// Without an Anthropic-native route the count is an estimate.
	for _, model := range []string{"gpt-test", "echo-1"} {
		params.Model = anthropic.Model(model)
		n, err = client.Messages.CountTokens(t.Context(), params, option.WithResponseInto(&httpResp))
		if err != nil {
			t.Fatal(err)
		}
		if n.InputTokens <= 0 || httpResp.Header.Get("X-Xjp-Token-Count") != "estimate" {
			t.Errorf("%s: count %d (%s)", model, n.InputTokens, httpResp.Header.Get("X-Xjp-Token-Count"))
		}
	}
}

func TestMessagesAuthAndVersionHeaders(t *testing.T) {
	loadCaddyfile(t, anthropicConfig())
	// Claude Code with ANTHROPIC_AUTH_TOKEN sends a bearer token.
	bearer := anthropic.NewClient(option.WithBaseURL(gatewayURL(ports.http)), option.WithAuthToken("key-all"), option.WithMaxRetries(0))
	msg, err := bearer.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "echo-1", MaxTokens: 50, Messages: userText("hello there")})
	if err != nil || msg.Content[0].Text != "hello there" {
		t.Fatalf("bearer: %+v, %v", msg, err)
	}

	// A plain HTTP client without anthropic-version is served too.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gatewayURL(ports.http)+"/v1/messages",
		strings.NewReader(`{"model":"echo-1","max_tokens":20,"messages":[{"role":"user","content":"no version"}]}`))
	req.Header.Set("X-Api-Key", "key-all")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"text":"no version"`) {
		t.Errorf("without anthropic-version: %d %s", resp.StatusCode, body)
	}
}

func TestAnthropicModelsList(t *testing.T) {
	client := anthropicClient(t, "key-echo-only")
	page, err := client.Models.List(t.Context(), anthropic.ModelListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "echo-1" || page.Data[0].Type != "model" || page.Data[0].CreatedAt.IsZero() {
		t.Errorf("models = %s", page.RawJSON())
	}
	all := newAnthropicClient(ports.http, "key-all")
	var ids []string
	for m := range all.Models.ListAutoPaging(t.Context(), anthropic.ModelListParams{}).All() {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "claude-test,clewdr-fallback,clewdr-test,clewdr-web,echo-1,gpt-test" {
		t.Errorf("models = %v", ids)
	}
}

func TestAnthropicModelsGet(t *testing.T) {
	client := anthropicClient(t, "key-all")
	m, err := client.Models.Get(t.Context(), "claude-test", anthropic.ModelGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "claude-test" || m.Type != "model" || m.DisplayName == "" || m.CreatedAt.IsZero() {
		t.Errorf("model = %s", m.RawJSON())
	}
	restricted := newAnthropicClient(ports.http, "key-echo-only")
	_, err = restricted.Models.Get(t.Context(), "claude-test", anthropic.ModelGetParams{})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.RawJSON(), `"type":"not_found_error"`) {
		t.Errorf("a model the key may not use: %v", err)
	}
}

// Clewdr: the Anthropic-native endpoints, its keep-alive comments and its
// own error shape.

func TestClewdrCodeEndpointStream(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, fakeClewdr(t, serveSSEEvents(messagesSSE(true, splitSSE(fixture(t, "anthropic_stream_tool_use.sse"))...))))
	params := anthropic.MessageNewParams{Model: "clewdr-test", MaxTokens: 256, Messages: userText("Weather in Paris?"),
		Tools: []anthropic.ToolUnionParam{weatherToolParam}}
	msg, _, err := streamMessage(t, client, params, option.WithHeader("anthropic-beta", "fine-grained-tool-streaming-2025-05-14"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 2 || string(msg.Content[1].Input) != `{"city": "Paris", "unit": "celsius"}` || msg.StopReason != "tool_use" {
		t.Errorf("message = %s", messageSummary(t, msg))
	}
	up := wantPassthrough(t, params, "claude-sonnet-4-5", true)
	if up.Path != "/clewdr/code/v1/messages" || up.Header.Get("Anthropic-Beta") != "fine-grained-tool-streaming-2025-05-14" {
		t.Errorf("upstream %s beta %q", up.Path, up.Header.Get("Anthropic-Beta"))
	}
}

func TestClewdrWebEndpoint(t *testing.T) {
	client := anthropicClient(t, "key-all")
	fake.reset(t, fakeClewdr(t, serveJSON(200, []byte(`{"id":"msg_web","type":"message","role":"assistant","model":"claude-sonnet-4-5",
		"content":[{"type":"text","text":"From the web."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":3}}`))))
	msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "clewdr-web", MaxTokens: 64, Messages: userText("hi there")})
	if err != nil || msg.Content[0].Text != "From the web." {
		t.Fatalf("%+v, %v", msg, err)
	}
	if up := fake.only(t); up.Path != "/clewdr/v1/messages" {
		t.Errorf("upstream path %q", up.Path)
	}

	// The web endpoint takes no documents: a clear 400, nothing sent.
	fake.reset(t, fakeClewdr(t, serveJSON(500, []byte(`{}`))))
	_, err = client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "clewdr-web", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
			anthropic.NewDocumentBlock(anthropic.Base64PDFSourceParam{Data: "JVBERi0xLjQK"}), anthropic.NewTextBlock("Summarize"))}})
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" || !strings.Contains(apiErr.Message, "documents") {
		t.Fatalf("err = %v", err)
	}
	fake.mu.Lock()
	n := len(fake.requests)
	fake.mu.Unlock()
	if n != 0 {
		t.Errorf("the document request reached Clewdr")
	}
}

func TestClewdrErrors(t *testing.T) {
	client := anthropicClient(t, "key-all")
	tests := []struct {
		name    string
		body    []byte
		status  int
		model   string
		want    int
		typ     string
		message string
	}{
		{"accounts exhausted", fixture(t, "clewdr_error_504.json"), 504, "clewdr-test", 502, "api_error", "exhausted its retries"},
		{"wrong password", fixture(t, "clewdr_error_401.json"), 401, "clewdr-test", 502, "api_error", "rejected the gateway's credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.reset(t, fakeClewdr(t, serveJSON(tt.status, tt.body)))
			_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: anthropic.Model(tt.model), MaxTokens: 5, Messages: userText("hi there")})
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.want || apiErr.Type() != anthropic.ErrorType(tt.typ) || !strings.Contains(apiErr.Message, tt.message) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(apiErr.RawJSON(), clewdrPassword) {
				t.Errorf("password leaked: %s", apiErr.RawJSON())
			}
		})
	}
	t.Run("exhausted accounts fall back to the next route", func(t *testing.T) {
		fake.reset(t, fakeClewdr(t, serveJSON(504, fixture(t, "clewdr_error_504.json"))))
		var httpResp *http.Response
		msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "clewdr-fallback", MaxTokens: 50, Messages: userText("still here")},
			option.WithResponseInto(&httpResp))
		if err != nil || msg.Content[0].Text != "still here" || httpResp.Header.Get("X-Xjp-Provider") != "echo" {
			t.Fatalf("%+v, %v", msg, err)
		}
	})
}
