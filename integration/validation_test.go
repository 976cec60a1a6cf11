package integration

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// validationConfig has tight limits, a route to OpenRouter (one choice
// per request) and one to the echo provider.
func validationConfig() string {
	return fmt.Sprintf(`
:%d {
	xjp_gateway {
		provider or openrouter {
			base_url %s/api/v1
			api_key %s
		}
		model gpt-test {
			primary or openai/gpt-4o
		}
		keys {
			key key-all tenant t1
		}
		limits {
			max_body 64KiB
			max_messages 4
			max_output_tokens 1000
			max_tools 2
		}
	}
}
`, ports.http, fake.srv.URL, providerKey)
}

const badImage = "iVBOR w0KGgo="

// TestValidationErrorsAreOpenAIErrors: a request the gateway refuses
// before any upstream call parses as an OpenAI SDK error naming the field.
func TestValidationErrorsAreOpenAIErrors(t *testing.T) {
	loadCaddyfile(t, validationConfig())
	fake.reset(t, serveJSON(200, []byte(`{}`)))
	client := openai.NewClient(option.WithBaseURL(gatewayURL(ports.http)+"/v1"), option.WithAPIKey("key-all"), option.WithMaxRetries(0))
	user := userMessage("hi")
	imageMessage := []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
		openai.TextContentPart("what is this?"),
		openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + badImage}),
	})}
	tool := openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "f"})
	tests := []struct {
		name   string
		params openai.ChatCompletionNewParams
		opts   []option.RequestOption
		status int
		param  string
		text   string
	}{
		{"temperature", openai.ChatCompletionNewParams{Temperature: openai.Float(2.5)}, nil, 400, "temperature", "between 0 and 2"},
		{"top_p", openai.ChatCompletionNewParams{TopP: openai.Float(-1)}, nil, 400, "top_p", "between 0 and 1"},
		{"max tokens over the limit", openai.ChatCompletionNewParams{MaxCompletionTokens: openai.Int(1001)}, nil, 400, "max_completion_tokens", "at most 1000"},
		{"n where the route cannot", openai.ChatCompletionNewParams{N: openai.Int(2)}, nil, 400, "n", "one choice"},
		{"bad base64 image", openai.ChatCompletionNewParams{Messages: imageMessage}, nil, 400, "messages[0].content[1].image_url.url", "base64"},
		{"too many messages", openai.ChatCompletionNewParams{Messages: append(append(append(user, user...), user...), append(user, user...)...)}, nil, 400, "messages", "too many messages: 5"},
		{"too many tools", openai.ChatCompletionNewParams{Tools: []openai.ChatCompletionToolUnionParam{tool, tool, tool}}, nil, 400, "tools", "too many tools: 3"},
		{"tool schema not an object", openai.ChatCompletionNewParams{}, []option.RequestOption{
			option.WithJSONSet("tools", []any{map[string]any{"type": "function", "function": map[string]any{"name": "f", "parameters": "object"}}})},
			400, "tools[0].function.parameters", "JSON Schema object"},
		{"tool result with no call", openai.ChatCompletionNewParams{Messages: append(user, openai.ToolMessage("42", "call_1"))}, nil, 400, "messages[1].tool_call_id", "answers no tool call"},
		{"unknown role", openai.ChatCompletionNewParams{}, []option.RequestOption{option.WithJSONSet("messages.0.role", "robot")}, 400, "messages[0].role", "robot"},
		{"body over max_body", openai.ChatCompletionNewParams{Messages: userMessage(strings.Repeat("x", 65<<10))}, nil, 413, "", "exceeds the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params
			p.Model = "gpt-test"
			if p.Messages == nil {
				p.Messages = user
			}
			_, err := client.Chat.Completions.New(t.Context(), p, tt.opts...)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an API error", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Type != "invalid_request_error" || apiErr.Param != tt.param ||
				!strings.Contains(apiErr.Message, tt.text) {
				t.Errorf("got %d type %q param %q message %q; want %d param %q message ~%q",
					apiErr.StatusCode, apiErr.Type, apiErr.Param, apiErr.Message, tt.status, tt.param, tt.text)
			}
		})
	}
	if n := fake.count(); n != 0 {
		t.Errorf("the upstream was called %d times for refused requests", n)
	}
}

// TestValidationErrorsAreAnthropicErrors: the same refusals reach an
// Anthropic client as its SDK's errors, the field named in Anthropic's
// syntax at the start of the message.
func TestValidationErrorsAreAnthropicErrors(t *testing.T) {
	loadCaddyfile(t, validationConfig())
	fake.reset(t, serveJSON(200, []byte(`{}`)))
	client := newAnthropicClient(ports.http, "key-all")
	imageParams := anthropic.MessageNewParams{Messages: []anthropic.MessageParam{anthropic.NewUserMessage(
		anthropic.NewTextBlock("what is this?"),
		anthropic.NewImageBlockBase64("image/png", badImage),
	)}}
	toolResult := anthropic.MessageNewParams{Messages: []anthropic.MessageParam{
		anthropic.NewUserMessage(anthropic.NewTextBlock("hi")),
		anthropic.NewAssistantMessage(anthropic.NewToolUseBlock("toolu_1", map[string]any{}, "f")),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_2", "42", false)),
	}}
	tests := []struct {
		name   string
		params anthropic.MessageNewParams
		opts   []anthropicoption.RequestOption
		status int
		typ    string
		prefix string
	}{
		{"temperature", anthropic.MessageNewParams{}, []anthropicoption.RequestOption{anthropicoption.WithJSONSet("temperature", 1.5)},
			400, "invalid_request_error", "temperature: "},
		{"max tokens over the limit", anthropic.MessageNewParams{MaxTokens: 4096}, nil, 400, "invalid_request_error", "max_tokens: must be at most 1000"},
		{"bad base64 image", imageParams, nil, 400, "invalid_request_error", "messages.0.content.1.source.data: "},
		{"tool result with no call", toolResult, nil, 400, "invalid_request_error", "messages.2.content.0.tool_use_id: "},
		{"tool schema not an object", anthropic.MessageNewParams{}, []anthropicoption.RequestOption{
			anthropicoption.WithJSONSet("tools", []any{map[string]any{"name": "f", "input_schema": []any{}}})},
			400, "invalid_request_error", "tools.0.input_schema: must be a JSON Schema object"},
		{"body over max_body", anthropic.MessageNewParams{Messages: userText(strings.Repeat("x", 65<<10))}, nil, 413, "request_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.params
			p.Model = "gpt-test"
			if p.MaxTokens == 0 {
				p.MaxTokens = 100
			}
			if p.Messages == nil {
				p.Messages = userText("hi")
			}
			_, err := client.Messages.New(t.Context(), p, tt.opts...)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an API error", err)
			}
			if apiErr.StatusCode != tt.status || string(apiErr.Type()) != tt.typ || !strings.HasPrefix(apiErr.Message, tt.prefix) {
				t.Errorf("got %d %q %q; want %d %q message starting %q", apiErr.StatusCode, apiErr.Type(), apiErr.Message, tt.status, tt.typ, tt.prefix)
			}
		})
	}
	if n := fake.count(); n != 0 {
		t.Errorf("the upstream was called %d times for refused requests", n)
	}
}

// count is how many requests the upstream received since reset.
func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}
