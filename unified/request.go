// Package unified is the gateway's own model of an LLM call: one request,
// one response or one stream of events, one usage record, one error type.
// Ingress dialects decode into it, connectors encode from it, and nothing in
// it knows about Caddy or HTTP servers.
package unified

import "github.com/go-json-experiment/json/jsontext"

// Role is the author of a message.
type Role string

const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Request is one chat call in canonical form.
type Request struct {
	// Model is the model name: the public name as the client sent it, and
	// the upstream model name once a route has been chosen.
	Model string

	// Messages in order. System prompts are messages with RoleSystem, kept
	// where the client put them; providers with a single top-level system
	// prompt hoist them with SplitSystem.
	Messages []Message
	Tools    []Tool

	// ToolChoice is nil when the client did not say (the provider default).
	ToolChoice *ToolChoice

	// ParallelToolCalls is nil when unset.
	ParallelToolCalls *bool

	Temperature *float64 // OpenAI range 0..2; connectors map to their own range
	TopP        *float64
	TopK        *int
	MaxTokens   *int // maximum output tokens
	Stop        []string
	Seed        *int64
	N           int // number of choices; 0 and 1 both mean one

	// ResponseFormat is OpenAI's response_format object, kept verbatim.
	ResponseFormat jsontext.Value

	Stream bool

	// IncludeUsage is OpenAI's stream_options.include_usage: the client
	// wants a final usage chunk. Connectors always ask upstreams for usage.
	IncludeUsage bool

	// User identifies the end user (OpenAI user, Anthropic metadata.user_id).
	User string

	// Reasoning is nil when the client did not ask (the provider default).
	Reasoning *Reasoning

	// Extensions are top-level request fields the gateway does not model,
	// kept verbatim and sent only to upstreams that speak ExtensionsDialect,
	// where they mean the same thing.
	Extensions        map[string]jsontext.Value
	ExtensionsDialect string

	// Native is the client's request body, verbatim, in ExtensionsDialect.
	// A connector of that dialect sends it with only the model name and the
	// stream flag replaced, so that a call that stays within one dialect
	// loses nothing the gateway does not model (cache_control, citations,
	// server tools, thinking signatures, fields added by the provider after
	// this code was written). Such a connector answers with Response.Native
	// and EventNative events, which the ingress of that dialect writes
	// through. Connectors of other dialects ignore Native and use the
	// modelled fields. Code that changes a request's content must clear
	// Native.
	Native jsontext.Value

	// NativeOnly, when set, says what in the request only a connector of
	// ExtensionsDialect can serve (a provider-defined tool, a content block
	// with no equivalent elsewhere). Connectors of other dialects refuse the
	// request with CheckPortable.
	NativeOnly string

	// AnthropicBeta is the client's anthropic-beta header (comma-separated
	// feature flags), forwarded only to Anthropic-native upstreams.
	AnthropicBeta string

	// SentMessages and SentTools count the entries of the client's
	// messages and tools arrays, set by the ingress dialect: decoding may
	// split messages (Anthropic's tool results) and leave out tools only
	// a native provider serves, and limits bound what the client sent.
	// Zero for a request built by code.
	SentMessages, SentTools int
}

// CheckPortable returns a 400 when the request holds something that only a
// connector of ExtensionsDialect can serve and dialect is another one.
func (r *Request) CheckPortable(dialect string) *Error {
	if r.NativeOnly == "" || dialect == r.ExtensionsDialect {
		return nil
	}
	return &Error{Kind: KindInvalidRequest, Message: r.NativeOnly + " can only be served by " +
		r.ExtensionsDialect + "-native providers, and this model is routed to another kind of provider"}
}

// Message is one turn of the conversation.
type Message struct {
	Role    Role
	Content []Part
	Name    string // optional participant name

	// ToolCalls are the calls an assistant message made.
	ToolCalls []ToolCall

	// ToolCallID links a tool message to the call it answers.
	ToolCallID string
	// IsError marks a tool result that reports a failure.
	IsError bool

	// Origin is where the message came from in the client's request,
	// set by the ingress dialect for error messages (see Location).
	Origin Origin
}

// PartType is the kind of a content part.
type PartType uint8

const (
	PartText PartType = iota
	PartImage
	PartFile  // a document or other file, by URL or inline data
	PartVideo // by URL
	PartAudio // inline data
	// PartThinking is a block of model reasoning (Text) with the provider's
	// Signature, replayed to providers that verify it.
	PartThinking
	// PartRedactedThinking is encrypted reasoning (Data), replayed verbatim.
	PartRedactedThinking
)

// Part is one piece of message content.
type Part struct {
	Type PartType
	Text string

	// URL is a remote or gs:// address of the content (image, file, video).
	URL string
	// MIMEType of the content; required for inline data.
	MIMEType string
	// Data is inline content, base64-encoded exactly as the client sent it,
	// so it crosses dialects without being decoded and encoded again.
	Data string

	// Detail is OpenAI's image detail hint (low, high, auto).
	Detail string
	// Filename of an inline file, when the client named it.
	Filename string

	// Signature is the provider's opaque signature of a thinking part.
	Signature string

	// Origin is the 1-based position of the part in the client's content
	// array; 0 when the content was a string or the position is unknown.
	Origin int32
}

// Text returns a text part.
func Text(s string) Part { return Part{Type: PartText, Text: s} }

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	// Parameters is the JSON Schema of the arguments object, verbatim.
	Parameters jsontext.Value
	Strict     *bool

	// Origin is the 1-based position of the tool in the client's tools
	// array; 0 when unknown.
	Origin int32
}

// ToolChoiceMode says whether and how the model must call tools.
type ToolChoiceMode string

const (
	ToolChoiceAuto     ToolChoiceMode = "auto"
	ToolChoiceNone     ToolChoiceMode = "none"
	ToolChoiceRequired ToolChoiceMode = "required" // some tool must be called
	ToolChoiceTool     ToolChoiceMode = "tool"     // the named tool must be called
)

// ToolChoice constrains tool use.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string // for ToolChoiceTool
}

// ToolCall is one call made by the model.
type ToolCall struct {
	ID   string
	Name string
	// Arguments is the JSON text of the arguments object.
	Arguments string
	// Signature is an opaque token the provider attached to the call and
	// expects back with it on the next turn (Gemini thought signatures).
	Signature string
}

// SplitSystem returns the content of all system messages, in order, and
// the remaining messages.
func (r *Request) SplitSystem() (system []Part, rest []Message) {
	rest = make([]Message, 0, len(r.Messages))
	for _, m := range r.Messages {
		if m.Role == RoleSystem {
			system = append(system, m.Content...)
			continue
		}
		rest = append(rest, m)
	}
	return system, rest
}

// LastUserText returns the text of the last user message, or "".
func (r *Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := &r.Messages[i]
		if m.Role == RoleUser {
			return JoinText(m.Content)
		}
	}
	return ""
}

// JoinText concatenates the text parts of content.
func JoinText(parts []Part) string {
	if len(parts) == 1 && parts[0].Type == PartText {
		return parts[0].Text
	}
	var n int
	for _, p := range parts {
		if p.Type == PartText {
			n += len(p.Text)
		}
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		if p.Type == PartText {
			b = append(b, p.Text...)
		}
	}
	return string(b)
}
