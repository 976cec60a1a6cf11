package integration

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

const providerKey = "sk-or-test-secret-provider-key"

// openAIConfig serves the fake upstream as OpenRouter and the echo
// provider, on a plain site and on a site behind encode gzip.
func openAIConfig() string {
	gw := fmt.Sprintf(`(gw) {
	xjp_gateway {
		provider or openrouter {
			base_url %s/api/v1
			api_key %s
			header HTTP-Referer https://xjp.test
			header X-Title "XJP Tests"
		}
		provider echo echo
		model gpt-test gpt {
			primary or openai/gpt-4o
		}
		model echo-1 {
			primary echo
		}
		keys {
			key key-all tenant t1
			key key-echo-only tenant t2 models echo-*
		}
	}
}
`, fake.srv.URL, providerKey)
	return gw + fmt.Sprintf(`
:%d {
	route {
		import gw
		respond "next handler" 200
	}
}

:%d {
	encode gzip
	import gw
}
`, ports.http, ports.alt)
}

func openAIClient(t *testing.T, key string) openai.Client {
	t.Helper()
	loadCaddyfile(t, openAIConfig())
	return openai.NewClient(
		option.WithBaseURL(gatewayURL(ports.http)+"/v1"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	)
}

func userMessage(text string) []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}
}

func TestChatNonStreamText(t *testing.T) {
	client := openAIClient(t, "key-all")
	fake.reset(t, serveJSON(200, []byte(`{"id":"gen-1","object":"chat.completion","created":1733150400,"model":"openai/gpt-4o","provider":"OpenAI",
		"choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour!"},"finish_reason":"stop","native_finish_reason":"stop"}],
		"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}}}`)))

	var httpResp *http.Response
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt", // an alias
		Messages: append([]openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Answer in French.")}, userMessage("Hello")...),
	}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Bonjour!" {
		t.Errorf("content = %q", got)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Model != "gpt" {
		t.Errorf("finish %q model %q", resp.Choices[0].FinishReason, resp.Model)
	}
	if resp.Usage.PromptTokens != 12 || resp.Usage.CompletionTokens != 3 || resp.Usage.TotalTokens != 15 ||
		resp.Usage.PromptTokensDetails.CachedTokens != 4 {
		t.Errorf("usage = %+v", resp.Usage)
	}
	if got := httpResp.Header.Get("X-Xjp-Provider"); got != "or" {
		t.Errorf("X-Xjp-Provider = %q", got)
	}
	if got := httpResp.Header.Get("Server-Timing"); !regexp.MustCompile(`^gateway;dur=\d+\.\d{3}, upstream;dur=\d+\.\d{3}$`).MatchString(got) {
		t.Errorf("Server-Timing = %q", got)
	}

	up := fake.only(t)
	if up.Path != "/api/v1/chat/completions" {
		t.Errorf("upstream path %q", up.Path)
	}
	if up.Body["model"] != "openai/gpt-4o" || up.Body["stream"] != nil {
		t.Errorf("upstream model %v stream %v", up.Body["model"], up.Body["stream"])
	}
	if got := up.Header.Get("Authorization"); got != "Bearer "+providerKey {
		t.Errorf("upstream Authorization = %q", got)
	}
	if up.Header.Get("HTTP-Referer") != "https://xjp.test" || up.Header.Get("X-Title") != "XJP Tests" {
		t.Errorf("OpenRouter attribution headers missing: %v", up.Header)
	}
	msgs := up.Body["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" {
		t.Errorf("upstream messages = %v", msgs)
	}
}

func TestChatStreamText(t *testing.T) {
	client := openAIClient(t, "key-all")
	fake.reset(t, serveSSE(fixture(t, "openrouter_stream_with_comments.sse")))

	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gpt-test",
		Messages:      userMessage("Write a haiku"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for stream.Next() {
		chunk := stream.Current()
		if !acc.AddChunk(chunk) {
			t.Fatalf("accumulator refused chunk %d", chunks)
		}
		if chunks == 0 && chunk.Choices[0].Delta.Role != "assistant" {
			t.Errorf("first chunk carries no role: %s", chunk.RawJSON())
		}
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := acc.Choices[0].Message.Content, "Frost on the window,\nthe kettle hums a small song."; got != want {
		t.Errorf("content = %q, want %q", got, want)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish = %q", acc.Choices[0].FinishReason)
	}
	if acc.Usage.PromptTokens != 19 || acc.Usage.CompletionTokens != 16 || acc.Usage.TotalTokens != 35 {
		t.Errorf("usage = %+v", acc.Usage)
	}
	up := fake.only(t)
	if up.Body["stream"] != true {
		t.Errorf("upstream stream = %v", up.Body["stream"])
	}
	if so, _ := up.Body["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("upstream stream_options = %v", up.Body["stream_options"])
	}
}

func TestChatStreamWithoutUsageOption(t *testing.T) {
	client := openAIClient(t, "key-all")
	fake.reset(t, serveSSE(fixture(t, "openrouter_stream_with_comments.sse")))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-test", Messages: userMessage("Write a haiku"),
	})
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) == 0 {
			t.Errorf("usage chunk sent although the client did not ask: %s", c.RawJSON())
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	// The gateway still asks the upstream for usage, for its own accounting.
	if so, _ := fake.only(t).Body["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Error("upstream was not asked for usage")
	}
}

var weatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: openai.String("Current weather for a city"),
	Parameters: shared.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
})

func TestChatToolCallNonStream(t *testing.T) {
	client := openAIClient(t, "key-all")
	fake.reset(t, serveJSON(200, []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o",
		"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
		{"id":"call_Qm3VtW9xLk2Pz8Rb","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
		"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99}}`)))

	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:      "gpt-test",
		Messages:   userMessage("Weather in Paris?"),
		Tools:      []openai.ChatCompletionToolUnionParam{weatherTool},
		ToolChoice: openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].ID != "call_Qm3VtW9xLk2Pz8Rb" || calls[0].Function.Name != "get_weather" ||
		calls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("tool calls = %+v", calls)
	}
	if resp.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish = %q", resp.Choices[0].FinishReason)
	}
	up := fake.only(t)
	tools := up.Body["tools"].([]any)
	fn := tools[0].(map[string]any)["function"].(map[string]any)
	if fn["name"] != "get_weather" || fn["parameters"].(map[string]any)["type"] != "object" {
		t.Errorf("upstream tools = %v", tools)
	}
	tc := up.Body["tool_choice"].(map[string]any)
	if tc["type"] != "function" || tc["function"].(map[string]any)["name"] != "get_weather" {
		t.Errorf("upstream tool_choice = %v", up.Body["tool_choice"])
	}
}

func TestChatToolCallStream(t *testing.T) {
	client := openAIClient(t, "key-all")
	fake.reset(t, serveSSE(fixture(t, "openai_stream_tool_call.sse")))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-test",
		Messages: userMessage("Weather in Paris and Tokyo?"),
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool},
	})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 2 {
		t.Fatalf("got %d tool calls", len(calls))
	}
	want := []struct{ id, args string }{
		{"call_Qm3VtW9xLk2Pz8Rb", `{"city": "Paris"}`},
		{"call_Hn7YcJ2sDf4Gq1Xa", `{"city": "Tokyo"}`},
	}
	for i, w := range want {
		if calls[i].ID != w.id || calls[i].Function.Name != "get_weather" || calls[i].Function.Arguments != w.args {
			t.Errorf("call %d = %+v, want %+v", i, calls[i], w)
		}
	}
	if acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish = %q", acc.Choices[0].FinishReason)
	}
}

func TestImagePartReachesUpstreamAsImageURL(t *testing.T) {
	client := openAIClient(t, "key-all")
	fake.reset(t, serveJSON(200, []byte(`{"id":"x","object":"chat.completion","created":1,"model":"m",
		"choices":[{"index":0,"message":{"role":"assistant","content":"A cat."},"finish_reason":"stop"}]}`)))
	const dataURI = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is in these pictures?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: dataURI, Detail: "low"}),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/cat.jpg"}),
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	parts := fake.only(t).Body["messages"].([]any)[0].(map[string]any)["content"].([]any)
	if len(parts) != 3 {
		t.Fatalf("upstream content = %v", parts)
	}
	img := parts[1].(map[string]any)
	if img["type"] != "image_url" || img["image_url"].(map[string]any)["url"] != dataURI ||
		img["image_url"].(map[string]any)["detail"] != "low" {
		t.Errorf("inline image reached upstream as %v", img)
	}
	if url := parts[2].(map[string]any)["image_url"].(map[string]any)["url"]; url != "https://example.com/cat.jpg" {
		t.Errorf("image URL reached upstream as %v", url)
	}
}

func TestToolResultRoundTrip(t *testing.T) {
	client := openAIClient(t, "key-all")
	// First turn: the echo provider calls the tool.
	params := openai.ChatCompletionNewParams{
		Model:    "echo-1",
		Messages: userMessage("Paris"),
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool},
	}
	first, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	calls := first.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("echo tool call = %+v", calls)
	}
	// Second turn: send the result back, through the fake upstream, and
	// check the conversation it received.
	params.Model = "gpt-test"
	params.Messages = append(params.Messages, first.Choices[0].Message.ToParam(),
		openai.ToolMessage("18°C, cloudy", calls[0].ID))
	fake.reset(t, serveJSON(200, []byte(`{"id":"x","object":"chat.completion","created":1,"model":"m",
		"choices":[{"index":0,"message":{"role":"assistant","content":"It is 18°C and cloudy in Paris."},"finish_reason":"stop"}]}`)))
	second, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if second.Choices[0].Message.Content != "It is 18°C and cloudy in Paris." {
		t.Errorf("answer = %q", second.Choices[0].Message.Content)
	}
	msgs := fake.only(t).Body["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("upstream got %d messages: %v", len(msgs), msgs)
	}
	asst, tool := msgs[1].(map[string]any), msgs[2].(map[string]any)
	tc := asst["tool_calls"].([]any)[0].(map[string]any)
	if asst["role"] != "assistant" || tc["id"] != calls[0].ID || tc["function"].(map[string]any)["name"] != "get_weather" {
		t.Errorf("assistant turn = %v", asst)
	}
	if tool["role"] != "tool" || tool["tool_call_id"] != calls[0].ID || tool["content"] != "18°C, cloudy" {
		t.Errorf("tool turn = %v", tool)
	}

	// And the echo provider answers a tool result with its content.
	params.Model = "echo-1"
	third, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if third.Choices[0].Message.Content != "18°C, cloudy" || len(third.Choices[0].Message.ToolCalls) != 0 {
		t.Errorf("echo after tool result = %+v", third.Choices[0].Message)
	}
}

func TestEchoStreamsWordByWord(t *testing.T) {
	client := openAIClient(t, "key-echo-only")
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "echo-1", Messages: userMessage("one two three"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var deltas []string
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		c := stream.Current()
		acc.AddChunk(c)
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			deltas = append(deltas, c.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(deltas, "|") != "one |two |three" {
		t.Errorf("deltas = %q", deltas)
	}
	if acc.Usage.PromptTokens == 0 || acc.Usage.CompletionTokens != 4 {
		t.Errorf("usage = %+v", acc.Usage)
	}
}

func TestErrorsAreOpenAIErrors(t *testing.T) {
	loadCaddyfile(t, openAIConfig())
	cases := []struct {
		name, key, model string
		status           int
		code             string
	}{
		{"missing key", "", "echo-1", 401, "invalid_api_key"},
		{"unknown key", "nope", "echo-1", 401, "invalid_api_key"},
		{"model outside the key's scope", "key-echo-only", "gpt-test", 403, "model_not_allowed"},
		{"unknown model", "key-all", "no-such-model", 404, "model_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := []option.RequestOption{option.WithBaseURL(gatewayURL(ports.http) + "/v1"), option.WithMaxRetries(0)}
			opts = append(opts, option.WithAPIKey(tc.key))
			if tc.key == "" {
				opts = append(opts, option.WithHeaderDel("Authorization"))
			}
			client := openai.NewClient(opts...)
			_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: tc.model, Messages: userMessage("hi"),
			})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an API error", err)
			}
			if apiErr.StatusCode != tc.status || apiErr.Code != tc.code || apiErr.Message == "" {
				t.Errorf("status %d code %q message %q, want %d %q", apiErr.StatusCode, apiErr.Code, apiErr.Message, tc.status, tc.code)
			}
		})
	}
}

func TestUpstreamErrorsSurfaceWithoutSecrets(t *testing.T) {
	client := openAIClient(t, "key-all")
	cases := []struct {
		name    string
		respond http.HandlerFunc
		status  int
	}{
		{"upstream rejects the provider key", serveJSON(401, []byte(`{"error":{"code":401,"message":"Invalid key `+providerKey+`"}}`)), 502},
		{"upstream rate limit", serveJSON(429, fixture(t, "openai_error_429_rate_limit.json"), "Retry-After", "3"), 429},
		{"upstream bad request", serveJSON(400, fixture(t, "openrouter_error_400_provider.json")), 400},
		{"upstream overloaded", serveJSON(503, []byte(`{"error":{"code":503,"message":"No provider available"}}`)), 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake.reset(t, tc.respond)
			_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "gpt-test", Messages: userMessage("hi"),
			})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v", err)
			}
			if apiErr.StatusCode != tc.status {
				t.Errorf("status = %d, want %d (%s)", apiErr.StatusCode, tc.status, apiErr.Message)
			}
			if strings.Contains(apiErr.RawJSON(), providerKey) || strings.Contains(apiErr.RawJSON(), "sk-or") {
				t.Errorf("error leaks the provider key: %s", apiErr.RawJSON())
			}
			if tc.status == 429 && apiErr.Response.Header.Get("Retry-After") != "3" {
				t.Errorf("Retry-After = %q", apiErr.Response.Header.Get("Retry-After"))
			}
		})
	}
}

func TestMidStreamErrorEndsTheStreamWithAnError(t *testing.T) {
	client := openAIClient(t, "key-all")
	fake.reset(t, serveSSE(fixture(t, "openrouter_stream_midstream_error.sse")))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-test", Messages: userMessage("hi"),
	})
	var text strings.Builder
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	err := stream.Err()
	if err == nil || !strings.Contains(err.Error(), "Provider disconnected unexpectedly") {
		t.Fatalf("stream error = %v", err)
	}
	if text.Len() == 0 {
		t.Error("the text before the failure was lost")
	}
}

func TestModelsList(t *testing.T) {
	client := openAIClient(t, "key-all")
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "echo-1,gpt-test" {
		t.Errorf("models = %v", ids)
	}

	restricted := openai.NewClient(option.WithBaseURL(gatewayURL(ports.http)+"/v1"), option.WithAPIKey("key-echo-only"))
	page, err = restricted.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "echo-1" {
		t.Errorf("restricted key sees %+v", page.Data)
	}
}

// TestModelsGet: one model, as the SDK fetches it; a model the key may not
// use is as absent as one that does not exist.
func TestModelsGet(t *testing.T) {
	client := openAIClient(t, "key-all")
	m, err := client.Models.Get(context.Background(), "gpt-test")
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "gpt-test" || m.Object != "model" || m.OwnedBy != "xjp-gateway" || m.Created == 0 {
		t.Errorf("model = %s", m.RawJSON())
	}
	restricted := openai.NewClient(option.WithBaseURL(gatewayURL(ports.http)+"/v1"), option.WithAPIKey("key-echo-only"),
		option.WithMaxRetries(0))
	for _, id := range []string{"gpt-test", "no-such-model"} {
		_, err = restricted.Models.Get(context.Background(), id)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" {
			t.Errorf("%s: err = %v", id, err)
		}
	}
}

func TestOtherPathsGoToTheNextHandler(t *testing.T) {
	loadCaddyfile(t, openAIConfig())
	resp, err := http.Get(gatewayURL(ports.http) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "next handler" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	loadCaddyfile(t, openAIConfig())
	cancelled := make(chan struct{})
	fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"first"},"finish_reason":null}]}`+"\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(30 * time.Second):
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL(ports.http)+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer key-all")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q, err %v", line, err)
	}
	cancel() // the client goes away mid-stream

	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream call was not cancelled after the client disconnected")
	}
}

// TestStreamEventsArriveOneByOneBehindEncode proves every event is flushed
// through encode gzip: the upstream sends its second event only after the
// client has decoded the first.
func TestStreamEventsArriveOneByOneBehindEncode(t *testing.T) {
	loadCaddyfile(t, openAIConfig())
	firstSeen := make(chan struct{})
	fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(content string) string {
			return `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":null}]}` + "\n\n"
		}
		fmt.Fprint(w, chunk("first"))
		w.(http.Flusher).Flush()
		select {
		case <-firstSeen:
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Second):
			return
		}
		fmt.Fprint(w, chunk("second"))
		fmt.Fprint(w, `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")
	})

	req, _ := http.NewRequest(http.MethodPost, gatewayURL(ports.alt)+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer key-all")
	req.Header.Set("Accept-Encoding", "gzip") // set by hand, so Go does not decompress for us
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("response not gzipped: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	events := bufio.NewReader(zr)
	var contents []string
	for {
		line, err := events.ReadString('\n')
		if strings.Contains(line, `"content":"first"`) {
			close(firstSeen)
		}
		for _, w := range []string{"first", "second"} {
			if strings.Contains(line, `"content":"`+w+`"`) {
				contents = append(contents, w)
			}
		}
		if err != nil {
			break
		}
	}
	if strings.Join(contents, ",") != "first,second" {
		t.Errorf("contents = %v", contents)
	}
}
