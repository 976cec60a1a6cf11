package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// Anthropic SDK → gateway → Vertex AI and the Gemini API: the Messages
// dialect through the Gemini translator, against the strict fake (which
// fails any test whose request Google would refuse).

func vertexMessagesClient(t *testing.T) anthropic.Client {
	t.Helper()
	loadCaddyfile(t, vertexConfig())
	return newAnthropicClient(ports.http, "key-all")
}

// mcpToolParam is mcpTool as an Anthropic tool: an MCP server's JSON
// Schema with $schema, additionalProperties, a $ref and formats Gemini
// rejects.
var mcpToolParam = anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{
	Name:        "get_weather",
	Description: anthropic.String("Current weather for a city"),
	InputSchema: anthropic.ToolInputSchemaParam{
		Properties: map[string]any{
			"city":    map[string]any{"type": "string", "minLength": 1},
			"unit":    map[string]any{"$ref": "#/definitions/unit"},
			"when":    map[string]any{"type": []string{"string", "null"}, "format": "date-time"},
			"source":  map[string]any{"type": "string", "format": "uri"},
			"details": map[string]any{"type": "object", "additionalProperties": true},
		},
		Required: []string{"city"},
		ExtraFields: map[string]any{
			"$schema":              "http://json-schema.org/draft-07/schema#",
			"additionalProperties": false,
			"definitions":          map[string]any{"unit": map[string]any{"enum": []string{"celsius", "fahrenheit"}, "default": "celsius"}},
		},
	},
}}

// gatewayCallID is the shape of the ids the gateway gives Gemini's calls;
// Anthropic requires ^[a-zA-Z0-9_-]+$ of tool_use ids.
var gatewayCallID = regexp.MustCompile(`^call_[A-Z2-7]{26}$`)

func TestMessagesToVertexText(t *testing.T) {
	client := vertexMessagesClient(t)
	vertexServes(t, 200, fixture(t, "gemini_generate_nonstream.json"))
	var httpResp *http.Response
	msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
		Model: "gemini-flash", MaxTokens: 256,
		System:        []anthropic.TextBlockParam{{Text: "Answer in haiku.", CacheControl: anthropic.NewCacheControlEphemeralParam()}, {Text: "Be gentle."}},
		Messages:      userText("Write about mornings."),
		StopSequences: []string{"END"},
		Metadata:      anthropic.MetadataParam{UserID: anthropic.String("user-7")},
	}, option.WithResponseInto(&httpResp), // this SDK has no fields for the sampling parameters the API still takes
		option.WithJSONSet("temperature", 0.4), option.WithJSONSet("top_p", 0.9), option.WithJSONSet("top_k", 20))
	if err != nil {
		t.Fatal(err)
	}
	want := &anthropic.Message{ID: "msg_" + httpResp.Header.Get("X-Request-Id"), Model: "gemini-flash", Role: "assistant", StopReason: "end_turn",
		Content: []anthropic.ContentBlockUnion{{Type: "text", Text: "Frost on the window,\nthe kettle hums a small song,\nmorning takes its time."}},
		Usage:   anthropic.Usage{InputTokens: 9, OutputTokens: 62}} // output = candidates 19 + thoughts 43
	if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
		t.Errorf("message =\n%s\nwant\n%s", got, exp)
	}
	if httpResp.Header.Get("X-Xjp-Provider") != "vx" || httpResp.Header.Get("Request-Id") != httpResp.Header.Get("X-Request-Id") {
		t.Errorf("headers = %v", httpResp.Header)
	}

	up := fake.only(t)
	if up.Path != "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent" ||
		up.Header.Get("Authorization") != "Bearer "+googleAccessToken {
		t.Errorf("upstream %s %v", up.Path, up.Header)
	}
	jsonEqual(t, "systemInstruction", up.Body["systemInstruction"], `{"parts":[{"text":"Answer in haiku."},{"text":"Be gentle."}]}`)
	jsonEqual(t, "contents", up.Body["contents"], `[{"role":"user","parts":[{"text":"Write about mornings."}]}]`)
	jsonEqual(t, "generationConfig", up.Body["generationConfig"],
		`{"temperature":0.4,"topP":0.9,"topK":20,"candidateCount":1,"maxOutputTokens":256,"stopSequences":["END"]}`)

	t.Run("max tokens", func(t *testing.T) {
		vertexServes(t, 200, []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"Frost on the"}]},"finishReason":"MAX_TOKENS"}],
			"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4,"totalTokenCount":13}}`))
		msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "gemini-flash", MaxTokens: 4, Messages: userText("Write about mornings.")})
		if err != nil {
			t.Fatal(err)
		}
		if msg.StopReason != "max_tokens" || msg.Content[0].Text != "Frost on the" || msg.Usage.OutputTokens != 4 {
			t.Errorf("message = %s", messageSummary(t, msg))
		}
	})
}

// TestMessagesToVertexStream streams through each kind of Google endpoint
// and checks that the accumulated message is the whole answer.
func TestMessagesToVertexStream(t *testing.T) {
	client := vertexMessagesClient(t)
	for model, path := range map[string]string{
		"gemini-flash":   "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent",
		"gemini-express": "/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent",
		"gemini-api":     "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
	} {
		t.Run(model, func(t *testing.T) {
			vertexServes(t, 200, fixture(t, "gemini_stream_text.sse")) // CRLF separators
			var httpResp *http.Response
			msg, types, err := streamMessage(t, client, anthropic.MessageNewParams{
				Model: anthropic.Model(model), MaxTokens: 256, Messages: userText("Write a haiku"),
				System: []anthropic.TextBlockParam{{Text: "Answer in haiku."}},
			}, option.WithResponseInto(&httpResp))
			if err != nil {
				t.Fatal(err)
			}
			want := &anthropic.Message{ID: "msg_" + httpResp.Header.Get("X-Request-Id"), Model: anthropic.Model(model), Role: "assistant", StopReason: "end_turn",
				Content: []anthropic.ContentBlockUnion{{Type: "text", Text: "Frost on the window,\nthe kettle hums a small song."}},
				Usage:   anthropic.Usage{InputTokens: 9, OutputTokens: 53}}
			if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
				t.Errorf("accumulated =\n%s\nwant\n%s", got, exp)
			}
			// One delta per Gemini chunk, as they came.
			if got := strings.Join(types, " "); got != "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop" {
				t.Errorf("events = %s", got)
			}
			up := fake.only(t)
			if up.Path != path {
				t.Errorf("upstream path %s", up.Path)
			}
			jsonEqual(t, "systemInstruction", up.Body["systemInstruction"], `{"parts":[{"text":"Answer in haiku."}]}`)
		})
	}
}

func TestMessagesToVertexToolUse(t *testing.T) {
	client := vertexMessagesClient(t)
	for _, model := range []string{"gemini-flash", "gemini-api"} {
		t.Run(model+"/stream", func(t *testing.T) {
			vertexServes(t, 200, fixture(t, "gemini_stream_function_call.sse"))
			msg, types, err := streamMessage(t, client, anthropic.MessageNewParams{
				Model: anthropic.Model(model), MaxTokens: 256, Messages: userText("Weather in Paris and Tokyo?"),
				Tools:      []anthropic.ToolUnionParam{mcpToolParam},
				ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 2 {
				t.Fatalf("content = %s", messageSummary(t, msg))
			}
			want := &anthropic.Message{ID: msg.ID, Model: anthropic.Model(model), Role: "assistant", StopReason: "tool_use",
				Content: []anthropic.ContentBlockUnion{
					{Type: "tool_use", ID: msg.Content[0].ID, Name: "get_weather", Input: []byte(`{"city":"Paris","unit":"celsius"}`)},
					{Type: "tool_use", ID: msg.Content[1].ID, Name: "get_weather", Input: []byte(`{"city":"Tokyo","unit":"celsius"}`)},
				},
				Usage: anthropic.Usage{InputTokens: 64, OutputTokens: 87}}
			if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
				t.Errorf("accumulated =\n%s\nwant\n%s", got, exp)
			}
			for _, c := range msg.Content {
				if !gatewayCallID.MatchString(c.ID) {
					t.Errorf("tool_use id %q", c.ID)
				}
			}
			if msg.Content[0].ID == msg.Content[1].ID {
				t.Error("two calls share an id")
			}
			// The empty text part of the last chunk opens no block.
			if got := strings.Join(types, " "); got != "message_start content_block_start content_block_delta content_block_start content_block_delta content_block_stop content_block_stop message_delta message_stop" {
				t.Errorf("events = %s", got)
			}
			up := fake.only(t)
			decl := up.Body["tools"].([]any)[0].(map[string]any)["functionDeclarations"].([]any)[0].(map[string]any)
			jsonEqual(t, "parameters", decl["parameters"], reducedWeatherParameters)
			if decl["name"] != "get_weather" || decl["description"] != "Current weather for a city" {
				t.Errorf("declaration = %v", decl)
			}
			jsonEqual(t, "toolConfig", up.Body["toolConfig"], `{"functionCallingConfig":{"mode":"ANY"}}`)
		})
		t.Run(model+"/non-stream", func(t *testing.T) {
			vertexServes(t, 200, []byte(`{"candidates":[{"content":{"role":"model","parts":[
				{"text":"Let me check."},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP"}],
				"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":7,"totalTokenCount":37},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`))
			msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
				Model: anthropic.Model(model), MaxTokens: 256, Messages: userText("Weather in Paris?"),
				Tools: []anthropic.ToolUnionParam{mcpToolParam}, ToolChoice: anthropic.ToolChoiceParamOfTool("get_weather"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 2 {
				t.Fatalf("content = %s", messageSummary(t, msg))
			}
			want := &anthropic.Message{ID: msg.ID, Model: anthropic.Model(model), Role: "assistant", StopReason: "tool_use",
				Content: []anthropic.ContentBlockUnion{
					{Type: "text", Text: "Let me check."},
					{Type: "tool_use", ID: msg.Content[1].ID, Name: "get_weather", Input: []byte(`{"city":"Paris"}`)},
				},
				Usage: anthropic.Usage{InputTokens: 30, OutputTokens: 7}}
			if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
				t.Errorf("message =\n%s\nwant\n%s", got, exp)
			}
			if !gatewayCallID.MatchString(msg.Content[1].ID) {
				t.Errorf("tool_use id %q", msg.Content[1].ID)
			}
			jsonEqual(t, "toolConfig", fake.only(t).Body["toolConfig"], `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}`)
		})
	}
	t.Run("tool_choice none", func(t *testing.T) {
		vertexServes(t, 200, fixture(t, "gemini_generate_nonstream.json"))
		none := anthropic.ToolChoiceNoneParam{}
		if _, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
			Model: "gemini-flash", MaxTokens: 256, Messages: userText("Just talk."),
			Tools: []anthropic.ToolUnionParam{mcpToolParam}, ToolChoice: anthropic.ToolChoiceUnionParam{OfNone: &none},
		}); err != nil {
			t.Fatal(err)
		}
		jsonEqual(t, "toolConfig", fake.only(t).Body["toolConfig"], `{"functionCallingConfig":{"mode":"NONE"}}`)
	})
}

// geminiSignature is the thought signature on the first call of the
// function-call fixtures.
const geminiSignature = "CpgCAdHtim9kQ3xZr2vN8aLw0pT5yE1uB7sM4cF6gH2jK9dR3qW8eX1zV5nA0bY7tU4iO6lP2mS9fG3hJ8kD1cQ5"

// TestMessagesToVertexToolResultRoundTrip runs two turns against Gemini 3
// models, which reject replayed calls without their thought signature.
// The Anthropic SDK replays tool_use blocks with their ids but has no
// place for the signature: the gateway must find it by id.
func TestMessagesToVertexToolResultRoundTrip(t *testing.T) {
	client := vertexMessagesClient(t)
	for _, tc := range []struct {
		model  string
		stream bool // how the first turn is asked
	}{{"gemini-3", true}, {"gemini-3", false}, {"gemini-3-api", true}, {"gemini-3-api", false}} {
		name := tc.model + "/non-stream"
		if tc.stream {
			name = tc.model + "/stream"
		}
		t.Run(name, func(t *testing.T) {
			params := anthropic.MessageNewParams{
				Model: anthropic.Model(tc.model), MaxTokens: 512, Messages: userText("Weather in Paris and Tokyo?"),
				Tools: []anthropic.ToolUnionParam{mcpToolParam},
			}
			var first *anthropic.Message
			var err error
			if tc.stream {
				vertexServes(t, 200, fixture(t, "gemini_stream_function_call.sse"))
				first, _, err = streamMessage(t, client, params)
			} else {
				vertexServes(t, 200, []byte(`{"candidates":[{"content":{"role":"model","parts":[
					{"functionCall":{"name":"get_weather","args":{"city":"Paris","unit":"celsius"}},"thoughtSignature":"`+geminiSignature+`"},
					{"functionCall":{"name":"get_weather","args":{"city":"Tokyo","unit":"celsius"}}}]},"finishReason":"STOP"}],
					"usageMetadata":{"promptTokenCount":64,"candidatesTokenCount":30,"totalTokenCount":94}}`))
				first, err = client.Messages.New(t.Context(), params)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(first.Content) != 2 || first.StopReason != "tool_use" {
				t.Fatalf("first turn = %s", messageSummary(t, first))
			}
			paris, tokyo := first.Content[0].ID, first.Content[1].ID

			// The client answers both calls in one user message, as the
			// Messages API requires, one of them failed, and asks on.
			vertexServes(t, 200, []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"Paris is 18°C; Tokyo could not be reached."}]},"finishReason":"STOP"}],
				"usageMetadata":{"promptTokenCount":90,"candidatesTokenCount":11,"totalTokenCount":101}}`))
			params.Messages = append(params.Messages, first.ToParam(), anthropic.NewUserMessage(
				anthropic.NewToolResultBlock(paris, "18°C, cloudy", false),
				anthropic.NewToolResultBlock(tokyo, "weather service timed out", true),
				anthropic.NewTextBlock("Which city is warmer?"),
			))
			second, err := client.Messages.New(t.Context(), params)
			if err != nil {
				t.Fatal(err) // the strict fake refuses a missing signature or a broken pairing
			}
			if second.Content[0].Text != "Paris is 18°C; Tokyo could not be reached." || second.StopReason != "end_turn" {
				t.Errorf("answer = %s", messageSummary(t, second))
			}

			jsonEqual(t, "contents", fake.only(t).Body["contents"], `[
				{"role":"user","parts":[{"text":"Weather in Paris and Tokyo?"}]},
				{"role":"model","parts":[
					{"functionCall":{"id":"`+paris+`","name":"get_weather","args":{"city":"Paris","unit":"celsius"}},"thoughtSignature":"`+geminiSignature+`"},
					{"functionCall":{"id":"`+tokyo+`","name":"get_weather","args":{"city":"Tokyo","unit":"celsius"}}}]},
				{"role":"user","parts":[
					{"functionResponse":{"id":"`+paris+`","name":"get_weather","response":{"output":"18°C, cloudy"}}},
					{"functionResponse":{"id":"`+tokyo+`","name":"get_weather","response":{"error":"weather service timed out"}}}]},
				{"role":"user","parts":[{"text":"Which city is warmer?"}]}]`)
		})
	}
}

func TestMessagesToVertexImage(t *testing.T) {
	client := vertexMessagesClient(t)
	vertexServes(t, 200, []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"A pixel, a cat and two reports."}]},"finishReason":"STOP"}]}`))
	const pdf = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"
	msg, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "gemini-flash", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
			anthropic.NewTextBlock("What is in these files?"),
			anthropic.NewImageBlockBase64("image/png", pngBase64),
			anthropic.NewImageBlock(anthropic.URLImageSourceParam{URL: "https://example.com/cat.jpg"}),
			anthropic.NewDocumentBlock(anthropic.Base64PDFSourceParam{Data: pdf}),
			anthropic.NewDocumentBlock(anthropic.URLPDFSourceParam{URL: "https://example.com/report"}),
		)}})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "A pixel, a cat and two reports." {
		t.Errorf("answer = %s", messageSummary(t, msg))
	}
	jsonEqual(t, "contents", fake.only(t).Body["contents"], `[{"role":"user","parts":[
		{"text":"What is in these files?"},
		{"inlineData":{"mimeType":"image/png","data":"`+pngBase64+`"}},
		{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/cat.jpg"}},
		{"inlineData":{"mimeType":"application/pdf","data":"`+pdf+`"}},
		{"fileData":{"mimeType":"application/pdf","fileUri":"https://example.com/report"}}]}]`)
}

// A prompt Gemini blocks is answered with HTTP 200 and no candidates: the
// Anthropic client gets an empty refusal, streamed or not.
func TestMessagesToVertexBlockedPrompt(t *testing.T) {
	client := vertexMessagesClient(t)
	blocked := fixture(t, "gemini_generate_blocked_prompt.json")
	params := anthropic.MessageNewParams{Model: "gemini-flash", MaxTokens: 64, Messages: userText("something prohibited")}
	want := func(id string) string {
		return messageSummary(t, &anthropic.Message{ID: id, Model: "gemini-flash", Role: "assistant", StopReason: "refusal",
			Usage: anthropic.Usage{InputTokens: 12}})
	}

	vertexServes(t, 200, blocked)
	msg, err := client.Messages.New(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := messageSummary(t, msg); got != want(msg.ID) || msg.Content == nil {
		t.Errorf("blocked answer =\n%s\nwant\n%s (content [])", got, want(msg.ID))
	}

	vertexServes(t, 200, sseBody("\r\n\r\n", compactJSON(t, blocked)))
	streamed, types, err := streamMessage(t, client, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := messageSummary(t, streamed); got != want(streamed.ID) {
		t.Errorf("blocked stream =\n%s\nwant\n%s", got, want(streamed.ID))
	}
	if got := strings.Join(types, " "); got != "message_start message_delta message_stop" {
		t.Errorf("events = %s", got)
	}
}

func TestMessagesToVertexErrors(t *testing.T) {
	client := vertexMessagesClient(t)
	cases := []struct {
		name       string
		model      string
		status     int
		body       []byte
		want       int
		typ        anthropic.ErrorType
		msg        string
		retryAfter string
	}{
		{"schema rejected", "gemini-flash", 400, fixture(t, "gemini_error_400_schema.json"), 400, "invalid_request_error", `Unknown name "additionalProperties"`, ""},
		{"expired token", "gemini-flash", 401, fixture(t, "gemini_error_401.json"), 502, "api_error", "rejected the gateway's credentials", ""},
		{"IAM", "gemini-flash", 403, []byte(`{"error":{"code":403,"message":"Permission denied on resource project test-project.","status":"PERMISSION_DENIED"}}`),
			502, "api_error", "rejected the gateway's credentials", ""},
		// The Gemini API answers a bad key with 400: still the gateway's fault.
		{"bad Gemini API key", "gemini-api", 400, []byte(`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
			"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`),
			502, "api_error", "rejected the gateway's credentials", ""},
		{"model not found", "gemini-flash", 404, []byte(`{"error":{"code":404,"message":"Publisher Model projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash was not found.","status":"NOT_FOUND"}}`),
			404, "not_found_error", "projects/[project]/", ""},
		{"quota", "gemini-flash", 429, fixture(t, "gemini_error_429.json"), 429, "rate_limit_error", "Resource exhausted", ""},
		{"quota with retry info", "gemini-api", 429, []byte(`{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED",
			"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`), 429, "rate_limit_error", "exceeded your current quota", "37"},
		{"internal", "gemini-flash", 500, []byte(`{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`), 502, "api_error", "Internal error", ""},
		{"overloaded", "gemini-flash", 503, []byte(`{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`),
			529, "overloaded_error", "overloaded", ""},
		{"deadline", "gemini-flash", 504, []byte(`{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}`),
			504, "timeout_error", "Deadline expired", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, streaming := range []bool{false, true} {
				vertexServes(t, tc.status, tc.body)
				params := anthropic.MessageNewParams{Model: anthropic.Model(tc.model), MaxTokens: 64, Messages: userText("hi")}
				var err error
				if streaming {
					_, _, err = streamMessage(t, client, params)
				} else {
					_, err = client.Messages.New(t.Context(), params)
				}
				var apiErr *anthropic.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("streaming=%v: err = %v", streaming, err)
				}
				if apiErr.StatusCode != tc.want || apiErr.Type() != tc.typ || !strings.Contains(apiErr.Message, tc.msg) {
					t.Errorf("streaming=%v: %d %q %q, want %d %q containing %q", streaming, apiErr.StatusCode, apiErr.Type(), apiErr.Message, tc.want, tc.typ, tc.msg)
				}
				if apiErr.RequestID == "" {
					t.Errorf("streaming=%v: no request id", streaming)
				}
				if got := apiErr.Response.Header.Get("Retry-After"); got != tc.retryAfter {
					t.Errorf("streaming=%v: retry-after %q, want %q", streaming, got, tc.retryAfter)
				}
				if raw := apiErr.RawJSON(); strings.Contains(raw, "test-project") || strings.Contains(raw, googleAPIKey) {
					t.Errorf("the error names the gateway's project or key: %s", raw)
				}
			}
		})
	}

	t.Run("schema the gateway cannot reduce", func(t *testing.T) {
		vertexServes(t, 200, []byte(`{}`))
		bad := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "lookup", InputSchema: anthropic.ToolInputSchemaParam{
			Properties: map[string]any{"q": map[string]any{"$ref": "https://schemas.example.com/query.json"}}}}}
		_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
			Model: "gemini-flash", MaxTokens: 64, Messages: userText("hi"), Tools: []anthropic.ToolUnionParam{bad},
		})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" || !strings.Contains(apiErr.Message, "points outside the schema") {
			t.Fatalf("err = %v", err)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		if len(fake.requests) != 0 {
			t.Error("a request the gateway knew Gemini would reject was sent")
		}
	})

	t.Run("server tools", func(t *testing.T) {
		vertexServes(t, 200, []byte(`{}`))
		_, err := client.Messages.New(t.Context(), anthropic.MessageNewParams{
			Model: "gemini-flash", MaxTokens: 64, Messages: userText("hi"),
			Tools: []anthropic.ToolUnionParam{{OfWebSearchTool20250305: &anthropic.WebSearchTool20250305Param{}}},
		})
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" || !strings.Contains(apiErr.Message, "web_search") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestMessagesToVertexMidStreamError(t *testing.T) {
	client := vertexMessagesClient(t)
	text := `{"candidates":[{"content":{"role":"model","parts":[{"text":"Frost on the"}]}}]}`
	for _, tc := range []struct {
		name string
		body []byte
		typ  anthropic.ErrorType
		msg  string
	}{
		{"error event", sseBody("\r\n\r\n", text, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`), "overloaded_error", "overloaded"},
		{"bare error line", append(sseBody("\n\n", text), "{\n  \"error\": {\n    \"code\": 500,\n    \"message\": \"Internal error encountered.\",\n    \"status\": \"INTERNAL\"\n  }\n}\n"...), "api_error", "Internal error"},
		{"cut off", sseBody("\n\n", text), "api_error", "ended before it was complete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vertexServes(t, 200, tc.body)
			msg, _, err := streamMessage(t, client, anthropic.MessageNewParams{Model: "gemini-flash", MaxTokens: 64, Messages: userText("hi")})
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.Type() != tc.typ || !strings.Contains(apiErr.Message, tc.msg) {
				t.Fatalf("stream error = %v, want %s containing %q", err, tc.typ, tc.msg)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != "Frost on the" {
				t.Errorf("text before the failure = %s", messageSummary(t, msg))
			}
		})
	}
}

// compactJSON is a JSON fixture on one line, as one SSE data: line.
func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestMessagesToVertexThinking: Gemini's thought summaries become a
// thinking block for a client that turned thinking on, and stay out of
// the answer of one that did not. The signature of a whole answer signs
// the thinking block; a stream's comes in Gemini 3's last chunk, after
// the text, when the thinking block is closed: it is not delivered
// (Gemini does not require text signatures back; those of function calls
// travel through the gateway's cache).
func TestMessagesToVertexThinking(t *testing.T) {
	client := vertexMessagesClient(t)
	const sig = "EpYBCpMBAdHtim8xQmV0YWJsZVNpZ25hdHVyZQ=="
	body := sseBody("\r\n\r\n",
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"**Weighing the seasons**\n\nFrost suggests winter.","thought":true}]}}],"usageMetadata":{"trafficType":"ON_DEMAND"}}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Frost on the window."}]}}]}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"","thoughtSignature":"`+sig+`"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"thoughtsTokenCount":40,"totalTokenCount":54}}`)
	whole := []byte(`{"candidates":[{"content":{"role":"model","parts":[
		{"text":"**Weighing the seasons**\n\nFrost suggests winter.","thought":true},
		{"text":"Frost on the window.","thoughtSignature":"` + sig + `"}]},"finishReason":"STOP"}],
		"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"thoughtsTokenCount":40,"totalTokenCount":54}}`)
	for _, thinking := range []bool{true, false} {
		for _, stream := range []bool{true, false} {
			t.Run("thinking="+strconv.FormatBool(thinking)+"/stream="+strconv.FormatBool(stream), func(t *testing.T) {
				params := anthropic.MessageNewParams{Model: "gemini-thinking", MaxTokens: 2048, Messages: userText("Which season?")}
				if thinking {
					params.Thinking = anthropic.ThinkingConfigParamOfEnabled(1024)
				}
				var msg *anthropic.Message
				var err error
				if stream {
					vertexServes(t, 200, body)
					msg, _, err = streamMessage(t, client, params)
				} else {
					vertexServes(t, 200, whole)
					msg, err = client.Messages.New(t.Context(), params)
				}
				if err != nil {
					t.Fatal(err)
				}
				content := []anthropic.ContentBlockUnion{{Type: "text", Text: "Frost on the window."}}
				if thinking {
					block := anthropic.ContentBlockUnion{Type: "thinking", Thinking: "**Weighing the seasons**\n\nFrost suggests winter."}
					if !stream {
						block.Signature = sig
					}
					content = append([]anthropic.ContentBlockUnion{block}, content...)
				}
				want := &anthropic.Message{ID: msg.ID, Model: "gemini-thinking", Role: "assistant", StopReason: "end_turn", Content: content,
					Usage: anthropic.Usage{InputTokens: 9, OutputTokens: 45}}
				if got, exp := messageSummary(t, msg), messageSummary(t, want); got != exp {
					t.Errorf("message =\n%s\nwant\n%s", got, exp)
				}
				if gc := fake.only(t).Body["generationConfig"].(map[string]any); gc["thinkingConfig"] == nil {
					t.Errorf("generationConfig = %v", gc)
				}

				// The next turn replays the answer: its signature goes back
				// on the text, the thought summary not at all.
				vertexServes(t, 200, fixture(t, "gemini_generate_nonstream.json"))
				params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(anthropic.NewTextBlock("Why?")))
				if _, err := client.Messages.New(t.Context(), params); err != nil {
					t.Fatal(err)
				}
				model := `{"text":"Frost on the window."}`
				if thinking && !stream {
					model = `{"text":"Frost on the window.","thoughtSignature":"` + sig + `"}`
				}
				jsonEqual(t, "contents", fake.only(t).Body["contents"], `[{"role":"user","parts":[{"text":"Which season?"}]},
					{"role":"model","parts":[`+model+`]},{"role":"user","parts":[{"text":"Why?"}]}]`)
			})
		}
	}
}
