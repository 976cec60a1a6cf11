package unified

import "github.com/go-json-experiment/json/jsontext"

// FinishReason says why generation stopped, in OpenAI's vocabulary, which
// every other dialect maps to and from.
type FinishReason string

const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
)

// Usage counts tokens. Input includes cached tokens (OpenAI's convention);
// CachedInput says how many of them were read from a prompt cache and
// CacheWriteInput how many were written to one.
type Usage struct {
	InputTokens     int
	OutputTokens    int
	CachedInput     int
	CacheWriteInput int
	ReasoningTokens int // part of OutputTokens
}

// Merge takes every field u2 reports (non-zero) over that of u. Upstream
// usage is cumulative, so the latest report of a field wins, and a report
// that omits a field (Anthropic's message_delta omits input) keeps it.
func (u *Usage) Merge(u2 Usage) {
	keep := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	keep(&u.InputTokens, u2.InputTokens)
	keep(&u.OutputTokens, u2.OutputTokens)
	keep(&u.CachedInput, u2.CachedInput)
	keep(&u.CacheWriteInput, u2.CacheWriteInput)
	keep(&u.ReasoningTokens, u2.ReasoningTokens)
}

// Total is input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// Response is a whole, non-streamed answer.
type Response struct {
	// ID is the upstream's response id, when it gave one.
	ID string
	// Model is the model that answered, as the upstream named it.
	Model string

	// Content holds the answer's text parts (usually one).
	Content []Part
	// Reasoning is the model's visible reasoning text, when the upstream
	// returned it.
	Reasoning string
	// ReasoningSignature is the provider's signature of Reasoning.
	ReasoningSignature string
	ToolCalls          []ToolCall

	Finish FinishReason
	Usage  Usage

	// Native is the upstream's whole answer body, verbatim, when the
	// request was Native and the upstream speaks its dialect; the ingress of
	// that dialect writes it through (with its own id and model name), so
	// nothing the gateway does not model is lost. Other ingresses use the
	// fields above.
	Native jsontext.Value
}

// Text returns the concatenated text of the response.
func (r *Response) Text() string { return JoinText(r.Content) }
