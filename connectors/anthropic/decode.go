package anthropic

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/internal/anthropicwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// post sends one call and returns the upstream response once its status
// is 200.
func (p *Anthropic) post(ctx context.Context, url string, req *unified.Request, m mode) (*http.Response, error) {
	body, err := p.encodeRequest(req, m)
	if err != nil {
		var ue *unified.Error
		if errors.As(err, &ue) {
			return nil, ue
		}
		return nil, unified.Errorf(unified.KindInvalidRequest, "cannot encode the request for provider %s: %v", p.name, err)
	}
	return p.Post(ctx, p.name, url, body, m == modeStream, func(h http.Header) {
		if key := p.Key(); key != "" {
			h.Set("X-Api-Key", key)
		}
		h.Set("Anthropic-Version", p.Version)
		if req.AnthropicBeta != "" {
			if configured := h.Get("Anthropic-Beta"); configured != "" {
				h.Set("Anthropic-Beta", configured+","+req.AnthropicBeta)
			} else {
				h.Set("Anthropic-Beta", req.AnthropicBeta)
			}
		}
	}, p.upstreamError)
}

// upstreamError normalizes an error answer: Anthropic's
// {"type":"error","error":{"type","message"}}, or Clewdr's own
// {"error":{"message","type","code"}}, whose message may be an object.
func (p *Anthropic) upstreamError(status int, body []byte, h http.Header) *unified.Error {
	var env anthropicwire.ErrorEnvelope
	var msg, typ string
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		msg, typ = env.Error.Text(), env.Error.Type
	}
	e := connectors.StatusError(p.name, status, msg, h, p.Key())
	if p.clewdr && typ == "too_many_retries" {
		// Every account Clewdr holds failed: another provider may well
		// answer, a retry on Clewdr soon after probably not.
		e.Kind, e.Retryable = unified.KindUpstream, true
		e.Message = "provider " + p.name + " exhausted its retries across all its accounts"
	}
	return e
}

// streamError maps the error event of a stream by its error type.
func (p *Anthropic) streamError(e *anthropicwire.ErrorBody) *unified.Error {
	msg := e.Text()
	if k := p.Key(); k != "" {
		msg = strings.ReplaceAll(msg, k, "[redacted]")
	}
	if msg == "" {
		msg = "provider " + p.name + " failed while generating"
	}
	out := &unified.Error{Kind: unified.KindUpstream, Message: msg}
	switch e.Type {
	case "overloaded_error":
		out.Kind, out.Retryable = unified.KindOverloaded, true
	case "rate_limit_error":
		out.Kind, out.Retryable = unified.KindRateLimit, true
	case "timeout_error":
		out.Kind, out.Retryable = unified.KindTimeout, true
	case "invalid_request_error":
		out.Kind = unified.KindInvalidRequest
	case "request_too_large":
		out.Kind = unified.KindRequestTooLarge
	case "not_found_error":
		out.Kind = unified.KindNotFound
	case "authentication_error", "permission_error":
		out.Message = "provider " + p.name + " rejected the gateway's credentials"
	default: // api_error and the unknown
		out.Retryable = true
	}
	return out
}

// decodeResponse reads a non-streamed answer. For a native request the
// body is kept whole for the Anthropic ingress to pass on.
func (p *Anthropic) decodeResponse(ctx context.Context, resp *http.Response, native bool) (*unified.Response, error) {
	body, err := connectors.ReadAnswer(ctx, resp, p.name)
	if err != nil {
		return nil, err
	}
	var mr anthropicwire.MessageResponse
	if err := json.Unmarshal(body, &mr); err != nil {
		return nil, unified.Errorf(unified.KindUpstream, "provider %s returned an unreadable answer", p.name)
	}
	out := &unified.Response{ID: mr.ID, Model: mr.Model, Usage: usage(&mr.Usage, &usageState{})}
	for i := range mr.Content {
		b := &mr.Content[i]
		switch b.Type {
		case "text":
			if b.Text != "" {
				out.Content = append(out.Content, unified.Text(b.Text))
			}
		case "thinking":
			out.Reasoning += b.Thinking
			out.ReasoningSignature = b.Signature
		case "tool_use":
			args := "{}"
			if len(b.Input) > 0 {
				args = string(b.Input)
			}
			out.ToolCalls = append(out.ToolCalls, unified.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		}
	}
	stop := ""
	if mr.StopReason != nil {
		stop = *mr.StopReason
	}
	out.Finish = FinishReason(stop, len(out.ToolCalls) > 0)
	if native {
		out.Native = body
	}
	return out, nil
}

func (p *Anthropic) decodeCount(resp *http.Response) (int, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, &unified.Error{Kind: unified.KindUpstream, Retryable: true, Message: "reading the answer of provider " + p.name + " failed"}
	}
	var c anthropicwire.CountTokensResponse
	if err := json.Unmarshal(body, &c); err != nil {
		return 0, unified.Errorf(unified.KindUpstream, "provider %s returned an unreadable token count", p.name)
	}
	return c.InputTokens, nil
}

// FinishReason maps Anthropic's stop_reason. An answer with tool calls
// finishes with tool_calls whatever the upstream said.
func FinishReason(stop string, calledTools bool) unified.FinishReason {
	if calledTools {
		return unified.FinishToolCalls
	}
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return unified.FinishLength
	case "tool_use":
		return unified.FinishToolCalls
	case "refusal":
		return unified.FinishContentFilter
	default: // end_turn, stop_sequence, pause_turn
		return unified.FinishStop
	}
}

// usageState is the Anthropic usage of an answer so far: message_delta
// repeats only the counts it updates.
type usageState struct {
	input, cacheWrite, cacheRead, output int
}

// usage folds u into st and returns the unified usage, whose input counts
// the cache reads and writes that Anthropic's input_tokens leaves out.
func usage(u *anthropicwire.Usage, st *usageState) unified.Usage {
	if u != nil {
		set := func(dst *int, v *int) {
			if v != nil {
				*dst = *v
			}
		}
		set(&st.input, u.InputTokens)
		set(&st.cacheWrite, u.CacheCreationInputTokens)
		set(&st.cacheRead, u.CacheReadInputTokens)
		set(&st.output, u.OutputTokens)
	}
	return unified.Usage{
		InputTokens:     st.input + st.cacheWrite + st.cacheRead,
		OutputTokens:    st.output,
		CachedInput:     st.cacheRead,
		CacheWriteInput: st.cacheWrite,
	}
}
