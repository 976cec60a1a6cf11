package openai

import (
	"bytes"
	"context"
	"net/http"

	"github.com/go-json-experiment/json"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/internal/openaiwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// post sends req and returns the upstream response once its status is 200.
func (p *OpenAI) post(ctx context.Context, req *unified.Request, stream bool) (*http.Response, error) {
	if err := req.CheckPortable("openai"); err != nil {
		return nil, err
	}
	body, err := p.encodeRequest(req, stream)
	if err != nil {
		return nil, unified.Errorf(unified.KindInvalidRequest, "cannot encode the request for provider %s: %v", p.name, err)
	}
	return p.Post(ctx, p.name, p.endpoint, body, stream, p.authorize, p.upstreamError)
}

func (p *OpenAI) authorize(h http.Header) {
	if key := p.Key(); key != "" {
		h.Set("Authorization", "Bearer "+key)
	}
}

// upstreamError normalizes an error body: OpenAI's {"error":{...}} with a
// string code, OpenRouter's with a numeric code and the underlying
// provider's body in metadata.raw.
func (p *OpenAI) upstreamError(status int, body []byte, h http.Header) *unified.Error {
	var env openaiwire.ErrorEnvelope
	msg, code, param := "", "", ""
	if json.Unmarshal(body, &env) == nil {
		msg = env.Error.Message
		if md := env.Error.Metadata; md != nil && md.Raw != "" {
			if inner := rawProviderMessage(md.Raw); inner != "" {
				msg += ": " + inner
			}
		}
		if env.Error.Code.Kind() == '"' {
			_ = json.Unmarshal(env.Error.Code, &code)
		}
		if env.Error.Param != nil {
			param = *env.Error.Param
		}
	}
	e := connectors.StatusError(p.name, status, msg, h, p.Key())
	if status == http.StatusTooManyRequests && (code == "insufficient_quota" || env.Error.Type == "insufficient_quota") {
		e.Kind, e.Retryable = unified.KindQuota, false
	}
	if e.Kind == unified.KindInvalidRequest {
		// The client may act on these (context_length_exceeded, …).
		e.Code, e.Param = code, param
	}
	return e
}

// rawProviderMessage digs the message out of the body a provider behind
// OpenRouter returned (OpenAI- or Anthropic-shaped), or returns "".
func rawProviderMessage(raw string) string {
	var inner struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal([]byte(raw), &inner) != nil {
		return ""
	}
	if inner.Error.Message != "" {
		return inner.Error.Message
	}
	return inner.Message
}

func (p *OpenAI) decodeResponse(ctx context.Context, resp *http.Response) (*unified.Response, error) {
	body, err := connectors.ReadAnswer(ctx, resp, p.name)
	if err != nil {
		return nil, err
	}
	var cc openaiwire.ChatCompletion
	if err := json.Unmarshal(body, &cc); err != nil {
		return nil, unified.Errorf(unified.KindUpstream, "provider %s returned an unreadable answer", p.name)
	}
	if cc.Error != nil {
		return nil, p.inBandError(cc.Error)
	}
	if len(cc.Choices) == 0 || cc.Choices[0].Message == nil {
		return nil, unified.Errorf(unified.KindUpstream, "provider %s returned no choices", p.name)
	}
	ch := cc.Choices[0]
	m := ch.Message
	out := &unified.Response{ID: cc.ID, Model: cc.Model, Finish: finishReason(ch.FinishReason, len(m.ToolCalls) > 0)}
	if m.Content != nil && *m.Content != "" {
		out.Content = []unified.Part{unified.Text(*m.Content)}
	}
	if r := reasoning(m); r != "" {
		out.Reasoning = r
	}
	for _, tc := range m.ToolCalls {
		args := tc.Function.Arguments
		if args == "" {
			args = "{}"
		}
		out.ToolCalls = append(out.ToolCalls, unified.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args})
	}
	if ch.FinishReason != nil && *ch.FinishReason == "error" {
		return nil, unified.Errorf(unified.KindUpstream, "provider %s reported an error while generating", p.name)
	}
	if cc.Usage != nil {
		out.Usage = usage(cc.Usage)
	}
	return out, nil
}

// inBandError turns an error object sent with status 200 (a stream's error
// chunk, or a body) into a failure.
func (p *OpenAI) inBandError(e *openaiwire.ErrorBody) *unified.Error {
	msg := e.Message
	if e.Metadata != nil && e.Metadata.Raw != "" {
		if inner := rawProviderMessage(e.Metadata.Raw); inner != "" {
			msg += ": " + inner
		}
	}
	if k := p.Key(); k != "" {
		msg = string(bytes.ReplaceAll([]byte(msg), []byte(k), []byte("[redacted]")))
	}
	if msg == "" {
		msg = "unknown error"
	}
	return &unified.Error{Kind: unified.KindUpstream, Message: "provider " + p.name + " failed: " + msg}
}

func reasoning(m *openaiwire.ResponseMessage) string {
	if m.Reasoning != nil {
		return *m.Reasoning
	}
	if m.ReasoningContent != nil {
		return *m.ReasoningContent
	}
	return ""
}

// finishReason maps an upstream finish_reason. A response that made tool
// calls finishes with tool_calls whatever the upstream said.
func finishReason(r *string, calledTools bool) unified.FinishReason {
	if calledTools {
		return unified.FinishToolCalls
	}
	if r == nil {
		return unified.FinishStop
	}
	switch *r {
	case "length":
		return unified.FinishLength
	case "tool_calls", "function_call":
		return unified.FinishToolCalls
	case "content_filter":
		return unified.FinishContentFilter
	default:
		return unified.FinishStop
	}
}

func usage(u *openaiwire.Usage) unified.Usage {
	out := unified.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CachedInput = d.CachedTokens
		out.CacheWriteInput = d.CacheWriteTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		out.ReasoningTokens = d.ReasoningTokens
	}
	return out
}
