// Package openai is the OpenAI Chat Completions ingress: POST
// /v1/chat/completions (JSON or SSE) and GET /v1/models, exactly as the
// official SDKs expect them.
package openai

import (
	"math"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/internal/openaiwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Dialect is the OpenAI ingress dialect.
type Dialect struct{}

// Name implements handlers.Dialect.
func (Dialect) Name() string { return "openai" }

// ResponseID is the chat completion id for a gateway request id.
func ResponseID(requestID string) string { return "chatcmpl-" + requestID }

// WriteResponse implements handlers.Dialect.
func (Dialect) WriteResponse(w http.ResponseWriter, resp *unified.Response, m *handlers.Meta) {
	msg := &openaiwire.ResponseMessage{Role: "assistant"}
	if text := resp.Text(); text != "" || len(resp.ToolCalls) == 0 {
		msg.Content = &text
	}
	if resp.Reasoning != "" {
		msg.ReasoningContent = &resp.Reasoning
	}
	for _, tc := range resp.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, openaiwire.ToolCall{ID: tc.ID, Type: "function",
			Function: openaiwire.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
	}
	finish := string(finishReason(resp.Finish, len(resp.ToolCalls) > 0))
	body, err := json.Marshal(&openaiwire.ChatCompletion{
		ID:      ResponseID(m.ID),
		Object:  "chat.completion",
		Created: m.Created.Unix(),
		Model:   m.Model,
		Choices: []openaiwire.Choice{{Index: 0, Message: msg, FinishReason: &finish}},
		Usage:   wireUsage(resp.Usage),
	})
	if err != nil {
		Dialect{}.WriteError(w, unified.Errorf(unified.KindInternal, "encoding the response failed"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// finishReason is what the client is told: a response that called tools
// finishes with tool_calls, whatever the provider said.
func finishReason(f unified.FinishReason, calledTools bool) unified.FinishReason {
	switch {
	case calledTools && (f == "" || f == unified.FinishStop):
		return unified.FinishToolCalls
	case f == "":
		return unified.FinishStop
	}
	return f
}

func wireUsage(u unified.Usage) *openaiwire.Usage {
	return &openaiwire.Usage{
		PromptTokens:            u.InputTokens,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             u.Total(),
		PromptTokensDetails:     &openaiwire.PromptTokensDetails{CachedTokens: u.CachedInput},
		CompletionTokensDetails: &openaiwire.CompletionTokensDetails{ReasoningTokens: u.ReasoningTokens},
	}
}

// errorType is OpenAI's error.type and default error.code for each kind.
var errorType = map[unified.Kind][2]string{
	unified.KindInvalidRequest:   {"invalid_request_error", ""},
	unified.KindAuthentication:   {"invalid_request_error", "invalid_api_key"},
	unified.KindPermission:       {"permission_denied", "permission_denied"},
	unified.KindNotFound:         {"invalid_request_error", "model_not_found"},
	unified.KindRequestTooLarge:  {"invalid_request_error", "request_too_large"},
	unified.KindUnprocessable:    {"invalid_request_error", "unprocessable"},
	unified.KindRateLimit:        {"requests", "rate_limit_exceeded"},
	unified.KindQuota:            {"insufficient_quota", "insufficient_quota"},
	unified.KindInternal:         {"server_error", ""},
	unified.KindUpstream:         {"server_error", "upstream_error"},
	unified.KindUnavailable:      {"server_error", "service_unavailable"},
	unified.KindOverloaded:       {"server_error", "service_unavailable"},
	unified.KindTimeout:          {"server_error", "timeout"},
	unified.KindMethodNotAllowed: {"invalid_request_error", "method_not_allowed"},
}

// WriteError implements handlers.Dialect.
func (Dialect) WriteError(w http.ResponseWriter, e *unified.Error) {
	body := appendError(make([]byte, 0, 256), e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	SetRetryHeaders(h, e)
	w.WriteHeader(e.Status())
	_, _ = w.Write(body)
}

// SetRetryHeaders tells OpenAI SDKs when to retry: Retry-After and
// retry-after-ms for rate limits, x-should-retry: false for an exhausted
// quota (retrying cannot help).
func SetRetryHeaders(h http.Header, e *unified.Error) {
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	if e.Kind == unified.KindQuota {
		h.Set("X-Should-Retry", "false")
	}
}

// appendError appends {"error":{"message","type","param","code"}}.
func appendError(b []byte, e *unified.Error) []byte {
	t := errorType[e.Kind]
	code := e.Code
	if code == "" {
		code = t[1]
	}
	b = append(b, `{"error":{"message":`...)
	b, _ = jsontext.AppendQuote(b, e.Message)
	b = append(b, `,"type":`...)
	b, _ = jsontext.AppendQuote(b, t[0])
	b = append(b, `,"param":`...)
	b = appendNullableString(b, e.Param)
	b = append(b, `,"code":`...)
	b = appendNullableString(b, code)
	return append(b, "}}"...)
}

func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	b, _ = jsontext.AppendQuote(b, s)
	return b
}

// WriteModels answers GET /v1/models with the given public model names.
func WriteModels(w http.ResponseWriter, names []string, created int64) {
	list := openaiwire.ModelList{Object: "list", Data: make([]openaiwire.Model, len(names))}
	for i, n := range names {
		list.Data[i] = openaiwire.Model{ID: n, Object: "model", Created: created, OwnedBy: "xjp-gateway"}
	}
	body, _ := json.Marshal(&list)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// WriteModel answers GET /v1/models/{id}.
func WriteModel(w http.ResponseWriter, name string, created int64) {
	body, _ := json.Marshal(&openaiwire.Model{ID: name, Object: "model", Created: created, OwnedBy: "xjp-gateway"})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

var _ handlers.Dialect = Dialect{}
