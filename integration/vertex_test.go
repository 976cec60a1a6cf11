package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

const (
	googleAccessToken = "ya29.fake-access-token"
	googleAPIKey      = "AIzaSyFAKE-express-key-0123456789abcdef"
)

// googleAuth is a fake OAuth token endpoint and a service-account key
// pointing at it, shared by every test of the binary: the gateway pools
// token sources by credentials across config reloads.
var googleAuth = sync.OnceValue(func() (a struct {
	server      *httptest.Server
	fetches     *atomic.Int32
	credentials string
}) {
	a.fetches = new(atomic.Int32)
	a.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" || r.PostForm.Get("assertion") == "" {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		a.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, googleAccessToken)
	}))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	sa, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "test-project", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "gateway@test-project.iam.gserviceaccount.com", "token_uri": a.server.URL + "/token",
	})
	// Beside Caddy's storage, in the directory TestMain removes.
	a.credentials = filepath.Join(filepath.Dir(dataDir), "vertex-sa.json")
	if err := os.WriteFile(a.credentials, sa, 0o600); err != nil {
		panic(err)
	}
	return a
})

func vertexConfig() string {
	return fmt.Sprintf(`:%d {
	xjp_gateway {
		provider vx vertex {
			base_url %s
			location us-central1
			credentials_file %s
			safety HARM_CATEGORY_DANGEROUS_CONTENT BLOCK_ONLY_HIGH
		}
		provider vx-express vertex {
			base_url %s
			api_key %s
		}
		provider gm gemini {
			base_url %s
			api_key %s
		}
		provider gm-thinking gemini {
			base_url %s
			api_key %s
			include_thoughts
		}
		model gemini-flash {
			primary vx gemini-2.5-flash
		}
		model gemini-3 {
			primary vx gemini-3-pro-preview
		}
		model gemini-express {
			primary vx-express gemini-2.5-flash
		}
		model gemini-api {
			primary gm gemini-2.5-flash
		}
		model gemini-3-api {
			primary gm gemini-3-pro-preview
		}
		model gemini-thinking {
			primary gm-thinking gemini-3-pro-preview
		}
		keys {
			key key-all tenant t1
		}
	}
}
`, ports.http, fake.srv.URL, googleAuth().credentials, fake.srv.URL, googleAPIKey, fake.srv.URL, googleAPIKey, fake.srv.URL, googleAPIKey)
}

func vertexClient(t *testing.T) openai.Client {
	t.Helper()
	loadCaddyfile(t, vertexConfig())
	return openai.NewClient(
		option.WithBaseURL(gatewayURL(ports.http)+"/v1"),
		option.WithAPIKey("key-all"),
		option.WithMaxRetries(0),
	)
}

// vertexAnswers installs a strict fake Vertex (OAuth) that answers with
// answer; it also serves the express and Gemini API providers (API key).
func vertexAnswers(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, call *vertexCall)) {
	t.Helper()
	oauth := &fakeVertex{token: googleAccessToken, answer: answer}
	keyed := &fakeVertex{key: googleAPIKey, answer: answer}
	fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Goog-Api-Key") != "" {
			keyed.ServeHTTP(w, r)
			return
		}
		oauth.ServeHTTP(w, r)
	})
}

// vertexServes answers every request with a fixed body: SSE for streams.
func vertexServes(t *testing.T, status int, body []byte) {
	vertexAnswers(t, func(w http.ResponseWriter, r *http.Request, call *vertexCall) {
		if call.Stream && status == http.StatusOK {
			serveVertexSSE(w, body)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
}

func TestVertexChatText(t *testing.T) {
	client := vertexClient(t)
	vertexServes(t, 200, fixture(t, "gemini_generate_nonstream.json"))
	var httpResp *http.Response
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("Answer in haiku."),
			openai.UserMessage("Write about mornings."),
		},
		Temperature:         openai.Float(0.4),
		MaxCompletionTokens: openai.Int(256),
		Stop:                openai.ChatCompletionNewParamsStopUnion{OfString: openai.String("END")},
	}, option.WithResponseInto(&httpResp))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "Frost on the window,\nthe kettle hums a small song,\nmorning takes its time." {
		t.Errorf("content = %q", got)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Model != "gemini-flash" {
		t.Errorf("finish %q model %q", resp.Choices[0].FinishReason, resp.Model)
	}
	u := resp.Usage
	if u.PromptTokens != 9 || u.CompletionTokens != 62 || u.TotalTokens != 71 || u.CompletionTokensDetails.ReasoningTokens != 43 {
		t.Errorf("usage = %+v (completion = candidates 19 + thoughts 43)", u)
	}
	if httpResp.Header.Get("X-Xjp-Provider") != "vx" || httpResp.Header.Get("X-Xjp-Upstream-Model") != "gemini-2.5-flash" {
		t.Errorf("route headers %v", httpResp.Header)
	}

	up := fake.only(t)
	if up.Path != "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent" {
		t.Errorf("upstream path %s", up.Path)
	}
	if up.Header.Get("Authorization") != "Bearer "+googleAccessToken {
		t.Errorf("Authorization = %q", up.Header.Get("Authorization"))
	}
	b := up.Body
	if si := b["systemInstruction"].(map[string]any)["parts"].([]any)[0].(map[string]any); si["text"] != "Answer in haiku." {
		t.Errorf("systemInstruction = %v", b["systemInstruction"])
	}
	if c := b["contents"].([]any); len(c) != 1 || c[0].(map[string]any)["role"] != "user" {
		t.Errorf("contents = %v", c)
	}
	gc := b["generationConfig"].(map[string]any)
	if gc["temperature"] != 0.4 || gc["maxOutputTokens"] != 256.0 || gc["candidateCount"] != 1.0 || gc["stopSequences"].([]any)[0] != "END" {
		t.Errorf("generationConfig = %v", gc)
	}
	if ss := b["safetySettings"].([]any)[0].(map[string]any); ss["category"] != "HARM_CATEGORY_DANGEROUS_CONTENT" || ss["threshold"] != "BLOCK_ONLY_HIGH" {
		t.Errorf("safetySettings = %v", b["safetySettings"])
	}
}

func TestVertexChatStream(t *testing.T) {
	client := vertexClient(t)
	vertexServes(t, 200, fixture(t, "gemini_stream_text.sse")) // CRLF separators
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "gemini-flash",
		Messages:      userMessage("Write a haiku"),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc := openai.ChatCompletionAccumulator{}
	var deltas []string
	for stream.Next() {
		c := stream.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("accumulator refused %s", c.RawJSON())
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
			deltas = append(deltas, c.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != "Frost on the window,\nthe kettle hums a small song." {
		t.Errorf("content = %q", got)
	}
	if len(deltas) != 3 {
		t.Errorf("deltas = %q, want the three chunks as they came", deltas)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish = %q", acc.Choices[0].FinishReason)
	}
	if acc.Usage.PromptTokens != 9 || acc.Usage.CompletionTokens != 53 || acc.Usage.TotalTokens != 62 {
		t.Errorf("usage = %+v", acc.Usage)
	}
	if up := fake.only(t); !strings.HasSuffix(up.Path, "/models/gemini-2.5-flash:streamGenerateContent") {
		t.Errorf("upstream path %s", up.Path)
	}
}

// mcpTool is a tool as an MCP server declares it: JSON Schema with
// $schema, additionalProperties, a $ref and formats Gemini rejects.
var mcpTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "get_weather",
	Description: openai.String("Current weather for a city"),
	Parameters: shared.FunctionParameters{
		"$schema":              "http://json-schema.org/draft-07/schema#",
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			"city":    map[string]any{"type": "string", "minLength": 1},
			"unit":    map[string]any{"$ref": "#/definitions/unit"},
			"when":    map[string]any{"type": []string{"string", "null"}, "format": "date-time"},
			"source":  map[string]any{"type": "string", "format": "uri"},
			"details": map[string]any{"type": "object", "additionalProperties": true},
		},
		"required":    []string{"city"},
		"definitions": map[string]any{"unit": map[string]any{"enum": []string{"celsius", "fahrenheit"}, "default": "celsius"}},
	},
})

// reducedWeatherParameters is mcpTool's schema as Gemini accepts it.
const reducedWeatherParameters = `{"properties":{"city":{"minLength":1,"type":"STRING"},"details":{"type":"OBJECT"},"source":{"type":"STRING"},` +
	`"unit":{"enum":["celsius","fahrenheit"],"type":"STRING"},"when":{"format":"date-time","nullable":true,"type":"STRING"}},"required":["city"],"type":"OBJECT"}`

func TestVertexToolCallStream(t *testing.T) {
	client := vertexClient(t)
	vertexServes(t, 200, fixture(t, "gemini_stream_function_call.sse"))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gemini-flash",
		Messages: userMessage("Weather in Paris and Tokyo?"),
		Tools:    []openai.ChatCompletionToolUnionParam{mcpTool},
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
		t.Fatalf("tool calls = %+v", calls)
	}
	for i, city := range []string{"Paris", "Tokyo"} {
		if calls[i].Function.Name != "get_weather" || calls[i].Function.Arguments != `{"city":"`+city+`","unit":"celsius"}` || !strings.HasPrefix(calls[i].ID, "call_") {
			t.Errorf("call %d = %+v", i, calls[i])
		}
	}
	if calls[0].ID == calls[1].ID {
		t.Error("two calls share an id")
	}
	if acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish = %q", acc.Choices[0].FinishReason)
	}
	decl := fake.only(t).Body["tools"].([]any)[0].(map[string]any)["functionDeclarations"].([]any)[0].(map[string]any)
	params, _ := json.Marshal(decl["parameters"])
	if string(params) != reducedWeatherParameters {
		t.Errorf("reduced parameters =\n%s\nwant\n%s", params, reducedWeatherParameters)
	}
}

func TestVertexToolCallNonStream(t *testing.T) {
	client := vertexClient(t)
	vertexServes(t, 200, []byte(`{"candidates":[{"content":{"role":"model","parts":[
		{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP"}],
		"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":7,"totalTokenCount":37},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`))
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:      "gemini-flash",
		Messages:   userMessage("Weather in Paris?"),
		Tools:      []openai.ChatCompletionToolUnionParam{mcpTool},
		ToolChoice: openai.ToolChoiceOptionFunctionToolChoice(openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Choices[0].Message.ToolCalls
	if len(calls) != 1 || calls[0].Function.Arguments != `{"city":"Paris"}` || calls[0].ID == "" || resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("response = %+v", resp.Choices[0])
	}
	fcc := fake.only(t).Body["toolConfig"].(map[string]any)["functionCallingConfig"].(map[string]any)
	if fcc["mode"] != "ANY" || fcc["allowedFunctionNames"].([]any)[0] != "get_weather" {
		t.Errorf("toolConfig = %v", fcc)
	}
}

// TestVertexToolResultRoundTrip runs two turns against a Gemini 3 model,
// which rejects replayed calls without their thought signature: the
// signature must come back although openai-go never saw it.
func TestVertexToolResultRoundTrip(t *testing.T) {
	client := vertexClient(t)
	vertexServes(t, 200, fixture(t, "gemini_stream_function_call.sse"))
	params := openai.ChatCompletionNewParams{
		Model:    "gemini-3",
		Messages: userMessage("Weather in Paris and Tokyo?"),
		Tools:    []openai.ChatCompletionToolUnionParam{mcpTool},
	}
	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if len(calls) != 2 {
		t.Fatalf("first turn calls = %+v", calls)
	}

	vertexServes(t, 200, []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"Paris 18°C, Tokyo 22°C."}]},"finishReason":"STOP"}],
		"usageMetadata":{"promptTokenCount":90,"candidatesTokenCount":9,"totalTokenCount":99}}`))
	params.Messages = append(params.Messages, acc.Choices[0].Message.ToParam(),
		openai.ToolMessage("18°C, cloudy", calls[0].ID),
		openai.ToolMessage("22°C, sunny", calls[1].ID))
	second, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err) // the strict fake rejects a missing signature or a broken pairing
	}
	if second.Choices[0].Message.Content != "Paris 18°C, Tokyo 22°C." {
		t.Errorf("answer = %q", second.Choices[0].Message.Content)
	}

	contents := fake.only(t).Body["contents"].([]any)
	if len(contents) != 3 {
		t.Fatalf("contents = %v", contents)
	}
	model, results := contents[1].(map[string]any), contents[2].(map[string]any)
	mp, rp := model["parts"].([]any), results["parts"].([]any)
	if model["role"] != "model" || len(mp) != 2 || results["role"] != "user" || len(rp) != 2 {
		t.Fatalf("turns = %v / %v", model, results)
	}
	first := mp[0].(map[string]any)
	if first["thoughtSignature"] != "CpgCAdHtim9kQ3xZr2vN8aLw0pT5yE1uB7sM4cF6gH2jK9dR3qW8eX1zV5nA0bY7tU4iO6lP2mS9fG3hJ8kD1cQ5" {
		t.Errorf("thought signature not sent back: %v", first)
	}
	for i, out := range []string{"18°C, cloudy", "22°C, sunny"} {
		fc := mp[i].(map[string]any)["functionCall"].(map[string]any)
		fr := rp[i].(map[string]any)["functionResponse"].(map[string]any)
		if fc["id"] != calls[i].ID || fr["id"] != calls[i].ID || fr["name"] != "get_weather" ||
			fr["response"].(map[string]any)["output"] != out {
			t.Errorf("pair %d: call %v, response %v", i, fc, fr)
		}
	}
}

func TestVertexImage(t *testing.T) {
	client := vertexClient(t)
	vertexServes(t, 200, []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"Two cats."}]},"finishReason":"STOP"}]}`))
	const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is in these pictures?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + png, Detail: "low"}),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "https://example.com/cat.jpg"}),
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "Two cats." {
		t.Errorf("content = %q", resp.Choices[0].Message.Content)
	}
	parts := fake.only(t).Body["contents"].([]any)[0].(map[string]any)["parts"].([]any)
	inline := parts[1].(map[string]any)["inlineData"].(map[string]any)
	file := parts[2].(map[string]any)["fileData"].(map[string]any)
	if inline["mimeType"] != "image/png" || inline["data"] != png || file["mimeType"] != "image/jpeg" || file["fileUri"] != "https://example.com/cat.jpg" {
		t.Errorf("image parts = %v", parts)
	}
}

func TestVertexBlockedPrompt(t *testing.T) {
	client := vertexClient(t)
	blocked := fixture(t, "gemini_generate_blocked_prompt.json")
	vertexServes(t, 200, blocked)
	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-flash", Messages: userMessage("something prohibited"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].FinishReason != "content_filter" || resp.Choices[0].Message.Content != "" || resp.Usage.PromptTokens != 12 {
		t.Errorf("blocked answer = %+v", resp)
	}

	var compact bytes.Buffer
	if err := json.Compact(&compact, blocked); err != nil {
		t.Fatal(err)
	}
	vertexServes(t, 200, sseBody("\n\n", compact.String()))
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-flash", Messages: userMessage("something prohibited"),
	})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].FinishReason != "content_filter" || acc.Choices[0].Message.Content != "" {
		t.Errorf("blocked stream = %+v", acc.Choices[0])
	}
}

func TestVertexErrors(t *testing.T) {
	client := vertexClient(t)
	cases := []struct {
		name   string
		status int
		body   []byte
		want   int
		code   string
		msg    string
	}{
		{"schema rejected", 400, fixture(t, "gemini_error_400_schema.json"), 400, "", `Unknown name "additionalProperties"`},
		{"expired token", 401, fixture(t, "gemini_error_401.json"), 502, "upstream_error", "rejected the gateway's credentials"},
		{"IAM", 403, []byte(`{"error":{"code":403,"message":"Permission denied on resource project test-project.","status":"PERMISSION_DENIED"}}`), 502, "upstream_error", "rejected the gateway's credentials"},
		{"model not found", 404, []byte(`{"error":{"code":404,"message":"Publisher Model projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash was not found.","status":"NOT_FOUND"}}`), 404, "model_not_found", "projects/[project]/"},
		{"quota", 429, fixture(t, "gemini_error_429.json"), 429, "rate_limit_exceeded", "Resource exhausted"},
		{"internal", 500, []byte(`{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`), 502, "upstream_error", "Internal error"},
		{"overloaded", 503, []byte(`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`), 503, "service_unavailable", "overloaded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, streaming := range []bool{false, true} {
				vertexServes(t, tc.status, tc.body)
				params := openai.ChatCompletionNewParams{Model: "gemini-flash", Messages: userMessage("hi")}
				var err error
				if streaming {
					s := client.Chat.Completions.NewStreaming(context.Background(), params)
					for s.Next() {
					}
					err = s.Err()
				} else {
					_, err = client.Chat.Completions.New(context.Background(), params)
				}
				var apiErr *openai.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("streaming=%v: err = %v", streaming, err)
				}
				if apiErr.StatusCode != tc.want || apiErr.Code != tc.code || !strings.Contains(apiErr.Message, tc.msg) {
					t.Errorf("streaming=%v: %d %q %q, want %d %q containing %q", streaming, apiErr.StatusCode, apiErr.Code, apiErr.Message, tc.want, tc.code, tc.msg)
				}
				if strings.Contains(apiErr.RawJSON(), "test-project") {
					t.Errorf("the error names the gateway's project: %s", apiErr.RawJSON())
				}
			}
		})
	}

	t.Run("schema the gateway cannot reduce", func(t *testing.T) {
		vertexServes(t, 200, []byte(`{}`))
		bad := openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "lookup", Parameters: shared.FunctionParameters{
			"type": "object", "properties": map[string]any{"q": map[string]any{"$ref": "https://schemas.example.com/query.json"}}}})
		_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gemini-flash", Messages: userMessage("hi"), Tools: []openai.ChatCompletionToolUnionParam{bad},
		})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "tools[0].parameters" || !strings.Contains(apiErr.Message, "points outside the schema") {
			t.Fatalf("err = %v", err)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if len(fake.requests) != 0 {
			t.Error("a request the gateway knew Gemini would reject was sent")
		}
	})
}

func TestVertexMidStreamError(t *testing.T) {
	client := vertexClient(t)
	text := `{"candidates":[{"content":{"role":"model","parts":[{"text":"Frost on the"}]}}]}`
	for name, body := range map[string][]byte{
		"error event":     sseBody("\r\n\r\n", text, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`),
		"bare error line": append(sseBody("\n\n", text), "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"The model is overloaded.\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n"...),
		"cut off":         sseBody("\n\n", text),
	} {
		t.Run(name, func(t *testing.T) {
			vertexServes(t, 200, body)
			stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model: "gemini-flash", Messages: userMessage("hi"),
			})
			var got strings.Builder
			for stream.Next() {
				if c := stream.Current(); len(c.Choices) > 0 {
					got.WriteString(c.Choices[0].Delta.Content)
				}
			}
			err := stream.Err()
			want := "overloaded"
			if name == "cut off" {
				want = "ended before it was complete"
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("stream error = %v, want %q", err, want)
			}
			if got.String() != "Frost on the" {
				t.Errorf("text before the failure = %q", got.String())
			}
		})
	}
}

func TestVertexExpressAndGeminiAPI(t *testing.T) {
	client := vertexClient(t)
	for model, path := range map[string]string{
		"gemini-express": "/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent",
		"gemini-api":     "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
	} {
		t.Run(model, func(t *testing.T) {
			vertexServes(t, 200, fixture(t, "gemini_stream_text.sse"))
			stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model: model, Messages: userMessage("Write a haiku"),
			})
			acc := openai.ChatCompletionAccumulator{}
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if acc.Choices[0].Message.Content != "Frost on the window,\nthe kettle hums a small song." {
				t.Errorf("content = %q", acc.Choices[0].Message.Content)
			}
			up := fake.only(t)
			if up.Path != path || up.Header.Get("X-Goog-Api-Key") != googleAPIKey || up.Header.Get("Authorization") != "" {
				t.Errorf("upstream %s %v", up.Path, up.Header)
			}
		})
	}
}

// TestVertexTokenIsCached sends many requests and proves the gateway
// fetched no token for any of them beyond the first.
func TestVertexTokenIsCached(t *testing.T) {
	client := vertexClient(t)
	vertexServes(t, 200, fixture(t, "gemini_generate_nonstream.json"))
	params := openai.ChatCompletionNewParams{Model: "gemini-flash", Messages: userMessage("hi")}
	if _, err := client.Chat.Completions.New(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	before := googleAuth().fetches.Load()
	if before < 1 {
		t.Fatal("no token was ever fetched")
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := client.Chat.Completions.New(context.Background(), params); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if after := googleAuth().fetches.Load(); after != before {
		t.Errorf("%d token fetches during 20 requests, want 0", after-before)
	}
}
