// Package anthropic is the Anthropic Messages ingress: POST /v1/messages
// (JSON or SSE), POST /v1/messages/count_tokens and the Anthropic shape of
// GET /v1/models, exactly as the official SDKs and Claude Code expect
// them.
//
// A request that an Anthropic-native provider serves passes through
// unchanged both ways (see unified.Request.Native); for every other
// provider the request is translated into the unified model and the answer
// back into Messages blocks and events.
package anthropic

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/internal/anthropicwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Name is the dialect's name.
const Name = "anthropic"

// Dialect is the Anthropic ingress dialect. Its fields carry what the
// request's headers say, so a value is built per request.
type Dialect struct {
	// Beta is the request's anthropic-beta header.
	Beta string
	// CountTokens decodes /v1/messages/count_tokens bodies, which have no
	// max_tokens.
	CountTokens bool
}

// Name implements handlers.Dialect.
func (Dialect) Name() string { return Name }

var errNoNative = errors.New("no native answer")

// MessageID is the message id for a gateway request id.
func MessageID(requestID string) string { return "msg_" + requestID }

// WriteResponse implements handlers.Dialect.
func (Dialect) WriteResponse(w http.ResponseWriter, resp *unified.Response, m *handlers.Meta) {
	var (
		body []byte
		err  error = errNoNative
	)
	if len(resp.Native) > 0 {
		body, err = anthropicwire.Patch(make([]byte, 0, len(resp.Native)+64), resp.Native,
			anthropicwire.Member{Name: "id", Value: anthropicwire.Quote(MessageID(m.ID))},
			anthropicwire.Member{Name: "model", Value: anthropicwire.Quote(m.Model)})
	}
	if err != nil {
		body, err = json.Marshal(translateResponse(resp, m))
		if err != nil {
			Dialect{}.WriteError(w, unified.Errorf(unified.KindInternal, "encoding the response failed"))
			return
		}
	}
	h := w.Header()
	setRequestID(h)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// translateResponse builds a Messages answer from a unified one: thinking
// (only when the client turned thinking on), text, then tool calls.
func translateResponse(resp *unified.Response, m *handlers.Meta) *anthropicwire.MessageResponse {
	out := &anthropicwire.MessageResponse{
		ID: MessageID(m.ID), Type: "message", Role: "assistant", Model: m.Model,
		Content: make([]anthropicwire.Block, 0, 1+len(resp.ToolCalls)),
		Usage:   wireUsage(resp.Usage),
	}
	if resp.Reasoning != "" && thinkingRequested(m.Request) {
		out.Content = append(out.Content, anthropicwire.Block{Type: "thinking", Thinking: resp.Reasoning, Signature: resp.ReasoningSignature})
	}
	for _, p := range resp.Content {
		if p.Type == unified.PartText && p.Text != "" {
			out.Content = append(out.Content, anthropicwire.Block{Type: "text", Text: p.Text})
		}
	}
	for _, tc := range resp.ToolCalls {
		out.Content = append(out.Content, anthropicwire.Block{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: anthropicwire.ToolInput(tc.Arguments)})
	}
	stop := StopReason(resp.Finish, len(resp.ToolCalls) > 0)
	out.StopReason = &stop
	return out
}

// StopReason maps a unified finish reason to Anthropic's stop_reason. An
// answer with tool calls always stops with tool_use.
func StopReason(f unified.FinishReason, calledTools bool) string {
	if calledTools {
		return "tool_use"
	}
	switch f {
	case unified.FinishLength:
		return "max_tokens"
	case unified.FinishContentFilter:
		return "refusal"
	default: // stop, and tool_calls without any call
		return "end_turn"
	}
}

// InputTokens is Anthropic's input_tokens for unified usage, which counts
// the cached prompt tokens that Anthropic reports separately.
func InputTokens(u unified.Usage) int {
	return max(0, u.InputTokens-u.CachedInput-u.CacheWriteInput)
}

func wireUsage(u unified.Usage) anthropicwire.Usage {
	in, cw, cr, out := InputTokens(u), u.CacheWriteInput, u.CachedInput, u.OutputTokens
	return anthropicwire.Usage{InputTokens: &in, CacheCreationInputTokens: &cw, CacheReadInputTokens: &cr, OutputTokens: &out}
}

// errorType is Anthropic's HTTP status and error.type for each kind.
var errorType = [...]struct {
	status int
	typ    string
}{
	unified.KindInternal:         {http.StatusInternalServerError, "api_error"},
	unified.KindInvalidRequest:   {http.StatusBadRequest, "invalid_request_error"},
	unified.KindAuthentication:   {http.StatusUnauthorized, "authentication_error"},
	unified.KindPermission:       {http.StatusForbidden, "permission_error"},
	unified.KindNotFound:         {http.StatusNotFound, "not_found_error"},
	unified.KindRequestTooLarge:  {http.StatusRequestEntityTooLarge, "request_too_large"},
	unified.KindUnprocessable:    {http.StatusUnprocessableEntity, "invalid_request_error"},
	unified.KindRateLimit:        {http.StatusTooManyRequests, "rate_limit_error"},
	unified.KindQuota:            {http.StatusTooManyRequests, "rate_limit_error"},
	unified.KindUpstream:         {http.StatusBadGateway, "api_error"},
	unified.KindUnavailable:      {http.StatusServiceUnavailable, "api_error"},
	unified.KindOverloaded:       {529, "overloaded_error"},
	unified.KindTimeout:          {http.StatusGatewayTimeout, "timeout_error"},
	unified.KindMethodNotAllowed: {http.StatusMethodNotAllowed, "invalid_request_error"},
}

// ErrorStatus is the HTTP status and error.type an Anthropic client gets
// for e: Anthropic's own (529 for an overloaded provider), not always the
// gateway's default status.
func ErrorStatus(e *unified.Error) (int, string) {
	if int(e.Kind) < len(errorType) && errorType[e.Kind].status != 0 {
		t := errorType[e.Kind]
		return t.status, t.typ
	}
	return http.StatusInternalServerError, "api_error"
}

// WriteError implements handlers.Dialect: {"type":"error","error":{"type",
// "message"},"request_id"}.
func (Dialect) WriteError(w http.ResponseWriter, e *unified.Error) {
	h := w.Header()
	id := setRequestID(h)
	status, _ := ErrorStatus(e)
	b := appendError(make([]byte, 0, 256), e)
	if id != "" {
		b = b[:len(b)-1]
		b = append(b, `,"request_id":`...)
		b, _ = jsontext.AppendQuote(b, id)
		b = append(b, '}')
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	setRetryHeaders(h, e)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// appendError appends {"type":"error","error":{"type":…,"message":…}}.
func appendError(b []byte, e *unified.Error) []byte {
	_, typ := ErrorStatus(e)
	msg := e.Message
	if e.Param != "" {
		msg = e.Param + ": " + msg
	}
	b = append(b, `{"type":"error","error":{"type":`...)
	b, _ = jsontext.AppendQuote(b, typ)
	b = append(b, `,"message":`...)
	b, _ = jsontext.AppendQuote(b, msg)
	return append(b, "}}"...)
}

// setRetryHeaders tells the SDKs when to retry: retry-after and
// retry-after-ms when the wait is known, x-should-retry: false for an
// exhausted quota (retrying cannot help).
func setRetryHeaders(h http.Header, e *unified.Error) {
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		h.Set("Retry-After-Ms", strconv.FormatInt(e.RetryAfter.Milliseconds(), 10))
	}
	if e.Kind == unified.KindQuota {
		h.Set("X-Should-Retry", "false")
	}
}

// setRequestID repeats the gateway's request id in request-id, where the
// Anthropic SDKs look for it (they show it in error messages).
func setRequestID(h http.Header) string {
	id := h.Get("X-Request-Id")
	if id != "" {
		h.Set("Request-Id", id)
	}
	return id
}

// WriteModels answers GET /v1/models in Anthropic's shape.
func WriteModels(w http.ResponseWriter, names []string, created int64) {
	list := anthropicwire.ModelList{Data: make([]anthropicwire.ModelInfo, len(names))}
	at := time.Unix(created, 0).UTC().Format(time.RFC3339)
	for i, n := range names {
		list.Data[i] = anthropicwire.ModelInfo{Type: "model", ID: n, DisplayName: n, CreatedAt: at}
	}
	if len(names) > 0 {
		list.FirstID, list.LastID = &names[0], &names[len(names)-1]
	}
	body, _ := json.Marshal(&list)
	h := w.Header()
	setRequestID(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// WriteModel answers GET /v1/models/{model_id} in Anthropic's shape.
func WriteModel(w http.ResponseWriter, name string, created int64) {
	at := time.Unix(created, 0).UTC().Format(time.RFC3339)
	body, _ := json.Marshal(&anthropicwire.ModelInfo{Type: "model", ID: name, DisplayName: name, CreatedAt: at})
	h := w.Header()
	setRequestID(h)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// WriteTokenCount answers POST /v1/messages/count_tokens.
func WriteTokenCount(w http.ResponseWriter, n int) {
	b := strconv.AppendInt([]byte(`{"input_tokens":`), int64(n), 10)
	b = append(b, '}')
	h := w.Header()
	setRequestID(h)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

var _ handlers.Dialect = Dialect{}
