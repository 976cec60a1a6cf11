// Package openaiwire holds the JSON shapes of OpenAI Chat Completions, shared
// by the OpenAI ingress (which reads requests and writes responses) and the
// OpenAI-compatible connector (which writes requests and reads responses).
package openaiwire

import (
	"errors"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// ChatRequest is the body of POST /chat/completions.
type ChatRequest struct {
	Model               string         `json:"model"`
	Messages            []Message      `json:"messages"`
	Stream              bool           `json:"stream,omitzero"`
	StreamOptions       *StreamOptions `json:"stream_options,omitzero"`
	MaxTokens           *int           `json:"max_tokens,omitzero"`
	MaxCompletionTokens *int           `json:"max_completion_tokens,omitzero"`
	Temperature         *float64       `json:"temperature,omitzero"`
	TopP                *float64       `json:"top_p,omitzero"`
	TopK                *int           `json:"top_k,omitzero"` // OpenRouter and most compatible servers
	N                   *int           `json:"n,omitzero"`
	Stop                Stop           `json:"stop,omitzero"`
	Seed                *int64         `json:"seed,omitzero"`
	Tools               []Tool         `json:"tools,omitzero"`
	ToolChoice          jsontext.Value `json:"tool_choice,omitzero"`
	ParallelToolCalls   *bool          `json:"parallel_tool_calls,omitzero"`
	ResponseFormat      jsontext.Value `json:"response_format,omitzero"`
	User                string         `json:"user,omitzero"`
	ReasoningEffort     string         `json:"reasoning_effort,omitzero"`

	// Unknown holds every other member, verbatim, in and out.
	Unknown map[string]jsontext.Value `json:",embed"`
}

// StreamOptions is the request's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one entry of messages.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	Name       string     `json:"name,omitzero"`
	ToolCalls  []ToolCall `json:"tool_calls,omitzero"`
	ToolCallID string     `json:"tool_call_id,omitzero"`
}

// ContentPart is one element of an array content.
type ContentPart struct {
	Type       string      `json:"type"`
	Text       *string     `json:"text,omitzero"`
	ImageURL   *MediaURL   `json:"image_url,omitzero"`
	VideoURL   *MediaURL   `json:"video_url,omitzero"`
	InputAudio *InputAudio `json:"input_audio,omitzero"`
	File       *File       `json:"file,omitzero"`
}

// MediaURL is an image_url or video_url object.
type MediaURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitzero"`
}

// InputAudio is an input_audio object.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// File is a file object: inline data as a data URI, or an uploaded file id.
type File struct {
	FileData string `json:"file_data,omitzero"`
	FileID   string `json:"file_id,omitzero"`
	Filename string `json:"filename,omitzero"`
}

// Tool is one element of tools.
type Tool struct {
	Type     string      `json:"type"`
	Function FunctionDef `json:"function"`
}

// FunctionDef declares a function tool.
type FunctionDef struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitzero"`
	Parameters  jsontext.Value `json:"parameters,omitzero"`
	Strict      *bool          `json:"strict,omitzero"`
}

// ToolCall is a call in an assistant message, or a fragment of one in a
// stream delta (where Index says which call it continues).
type ToolCall struct {
	Index    *int         `json:"index,omitzero"`
	ID       string       `json:"id,omitzero"`
	Type     string       `json:"type,omitzero"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its JSON arguments as text.
type FunctionCall struct {
	Name      string `json:"name,omitzero"`
	Arguments string `json:"arguments"`
}

// ChatCompletion is a response body, or one chunk of a stream.
type ChatCompletion struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage,omitzero"`
	// Error is set on the in-band error chunks of OpenAI and OpenRouter.
	Error *ErrorBody `json:"error,omitzero"`
}

// Chunk is a chat.completion.chunk as a stream reader decodes it: values
// instead of pointers and only the members the reader uses (the decoder
// skips object, created, system_fingerprint, logprobs, …), so decoding a
// chunk allocates little beyond its text. A null member reads as its zero
// value.
type Chunk struct {
	ID      string        `json:"id"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage"`
	// Error is set on the in-band error chunks of OpenAI and OpenRouter.
	Error *ErrorBody `json:"error"`
}

// ChunkChoice is one element of a chunk's choices.
type ChunkChoice struct {
	Index        int        `json:"index"`
	Delta        ChunkDelta `json:"delta"`
	FinishReason string     `json:"finish_reason"`
}

// ChunkDelta is a choice's delta. Reasoning is OpenRouter's reasoning
// text; ReasoningContent is the same for DeepSeek-style servers.
type ChunkDelta struct {
	Content          string     `json:"content"`
	Reasoning        string     `json:"reasoning"`
	ReasoningContent string     `json:"reasoning_content"`
	ToolCalls        []ToolCall `json:"tool_calls"`
}

// Choice is one element of choices.
type Choice struct {
	Index        int              `json:"index"`
	Message      *ResponseMessage `json:"message,omitzero"`
	Delta        *ResponseMessage `json:"delta,omitzero"`
	FinishReason *string          `json:"finish_reason"`
}

// ResponseMessage is a choice's message, or the delta of a stream chunk.
type ResponseMessage struct {
	Role    string  `json:"role,omitzero"`
	Content *string `json:"content"`
	// Reasoning is OpenRouter's reasoning text; ReasoningContent is the
	// same for DeepSeek-style servers.
	Reasoning        *string    `json:"reasoning,omitzero"`
	ReasoningContent *string    `json:"reasoning_content,omitzero"`
	ToolCalls        []ToolCall `json:"tool_calls,omitzero"`
	Refusal          *string    `json:"refusal"`
}

// Usage is the usage object.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitzero"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitzero"`
}

// PromptTokensDetails breaks prompt_tokens down.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	// CacheWriteTokens is OpenRouter's count of tokens written to a cache.
	CacheWriteTokens int `json:"cache_write_tokens,omitzero"`
}

// CompletionTokensDetails breaks completion_tokens down.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// ErrorEnvelope is the body of every error response.
type ErrorEnvelope struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the error object. Code is a string at OpenAI and a number at
// OpenRouter, so it is kept raw.
type ErrorBody struct {
	Message  string         `json:"message"`
	Type     string         `json:"type,omitzero"`
	Param    *string        `json:"param"`
	Code     jsontext.Value `json:"code"`
	Metadata *ErrorMetadata `json:"metadata,omitzero"`
}

// ErrorMetadata is OpenRouter's error metadata: Raw holds the body the
// underlying provider returned.
type ErrorMetadata struct {
	Raw          string `json:"raw,omitzero"`
	ProviderName string `json:"provider_name,omitzero"`
}

// Model is one entry of GET /models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the body of GET /models.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// Content is a message's content: a plain string, an array of parts, or
// null. Text is used when Parts is nil.
type Content struct {
	Text  string
	Parts []ContentPart
	Null  bool
}

// MarshalJSONTo writes a string, an array or null.
func (c Content) MarshalJSONTo(enc *jsontext.Encoder) error {
	switch {
	case c.Parts != nil:
		return json.MarshalEncode(enc, c.Parts)
	case c.Null:
		return enc.WriteToken(jsontext.Null)
	default:
		return enc.WriteToken(jsontext.String(c.Text))
	}
}

// UnmarshalJSONFrom reads a string, an array of parts or null.
func (c *Content) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '[':
		c.Parts = c.Parts[:0]
		if err := json.UnmarshalDecode(dec, &c.Parts); err != nil {
			return err
		}
		if c.Parts == nil {
			c.Parts = []ContentPart{}
		}
		return nil
	case 'n':
		c.Null = true
		_, err := dec.ReadToken()
		return err
	case '"':
		return json.UnmarshalDecode(dec, &c.Text)
	default:
		if err := dec.SkipValue(); err != nil {
			return err
		}
		return errContent
	}
}

var errContent = errors.New("content must be a string, an array of content parts or null")

// Stop is stop: a string or an array of strings.
type Stop []string

// UnmarshalJSONFrom reads a string or an array of strings.
func (s *Stop) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		var one string
		if err := json.UnmarshalDecode(dec, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	case 'n':
		_, err := dec.ReadToken()
		return err
	default:
		return json.UnmarshalDecode(dec, (*[]string)(s))
	}
}
