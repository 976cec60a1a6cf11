// Package anthropicwire holds the JSON shapes of the Anthropic Messages API,
// shared by the Anthropic ingress (which reads requests and writes answers)
// and the Anthropic-native connector (which writes requests and reads
// answers).
package anthropicwire

import (
	"errors"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DefaultVersion is the anthropic-version the gateway assumes and sends.
const DefaultVersion = "2023-06-01"

// MessagesRequest is the body of POST /v1/messages and of
// /v1/messages/count_tokens.
type MessagesRequest struct {
	Model         string      `json:"model"`
	MaxTokens     *int        `json:"max_tokens,omitzero"`
	Messages      []Message   `json:"messages"`
	System        Content     `json:"system,omitzero"`
	Stream        bool        `json:"stream,omitzero"`
	Temperature   *float64    `json:"temperature,omitzero"`
	TopP          *float64    `json:"top_p,omitzero"`
	TopK          *int        `json:"top_k,omitzero"`
	StopSequences []string    `json:"stop_sequences,omitzero"`
	Tools         []Tool      `json:"tools,omitzero"`
	ToolChoice    *ToolChoice `json:"tool_choice,omitzero"`
	Metadata      *Metadata   `json:"metadata,omitzero"`

	// Unknown holds every other member (thinking, service_tier,
	// container, mcp_servers, …), verbatim, in and out.
	Unknown map[string]jsontext.Value `json:",embed"`
}

// Metadata is the request's metadata object.
type Metadata struct {
	UserID string `json:"user_id,omitzero"`
}

// Message is one entry of messages.
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content"`
}

// Content is a string or an array of blocks: a message's content, the
// system prompt, or a tool result's content. Text is used when Blocks is
// nil.
type Content struct {
	Text   string
	Blocks []Block
}

// IsZero reports an absent content (for omitzero).
func (c Content) IsZero() bool { return c.Text == "" && c.Blocks == nil }

// MarshalJSONTo writes a string or an array.
func (c Content) MarshalJSONTo(enc *jsontext.Encoder) error {
	if c.Blocks != nil {
		return json.MarshalEncode(enc, c.Blocks)
	}
	return enc.WriteToken(jsontext.String(c.Text))
}

// UnmarshalJSONFrom reads a string or an array of blocks.
func (c *Content) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '[':
		if err := json.UnmarshalDecode(dec, &c.Blocks); err != nil {
			return err
		}
		if c.Blocks == nil {
			c.Blocks = []Block{}
		}
		return nil
	case '"':
		return json.UnmarshalDecode(dec, &c.Text)
	case 'n':
		_, err := dec.ReadToken()
		return err
	default:
		if err := dec.SkipValue(); err != nil {
			return err
		}
		return errContent
	}
}

var errContent = errors.New("must be a string or an array of content blocks")

// Block is a content block of any type; which fields apply depends on
// Type. Marshalling writes the fields of the block's type.
type Block struct {
	Type string `json:"type"`

	Text      string         `json:"text"`                 // text
	Citations jsontext.Value `json:"citations,omitzero"`   // text (responses)
	Source    *Source        `json:"source,omitzero"`      // image, document
	Title     string         `json:"title,omitzero"`       // document
	ID        string         `json:"id,omitzero"`          // tool_use
	Name      string         `json:"name,omitzero"`        // tool_use
	Input     jsontext.Value `json:"input,omitzero"`       // tool_use
	ToolUseID string         `json:"tool_use_id,omitzero"` // tool_result
	Content   *Content       `json:"content,omitzero"`     // tool_result
	IsError   bool           `json:"is_error,omitzero"`    // tool_result
	Thinking  string         `json:"thinking"`             // thinking
	Signature string         `json:"signature"`            // thinking
	Data      string         `json:"data,omitzero"`        // redacted_thinking

	CacheControl jsontext.Value `json:"cache_control,omitzero"`

	// Raw is a block of a type not listed above, verbatim; its fields
	// are not decoded, since they may reuse a name with another shape
	// (search_result's source is a string).
	Raw jsontext.Value `json:"-"`
}

// blockFields is Block without its methods, for the default decoding.
type blockFields Block

// UnmarshalJSONFrom decodes a block of a known type into the fields and
// keeps any other block whole in Raw.
func (b *Block) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if raw.Kind() != '{' {
		return errBlock
	}
	var typ string
	if t := Get(raw, "type"); t != nil {
		if err := json.Unmarshal(t, &typ); err != nil {
			return errBlockType
		}
	}
	switch typ {
	case "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking":
		*b = Block{}
		err := json.Unmarshal(raw, (*blockFields)(b))
		var se *json.SemanticError
		if errors.As(err, &se) {
			// Name the field from the top of the document, not of the block.
			se.JSONPointer = dec.StackPointer() + se.JSONPointer
		}
		return err
	}
	*b = Block{Type: typ, Raw: raw.Clone()}
	return nil
}

var (
	errBlock     = errors.New("a content block must be an object")
	errBlockType = errors.New("a content block's type must be a string")
)

// MarshalJSONTo writes the block with the members of its type only, so
// that a text block always has text and a thinking block its signature.
func (b Block) MarshalJSONTo(enc *jsontext.Encoder) error {
	if b.Raw != nil {
		return enc.WriteValue(b.Raw)
	}
	m := make([]member, 0, 6)
	m = append(m, member{"type", b.Type})
	switch b.Type {
	case "text":
		m = append(m, member{"text", b.Text})
		if len(b.Citations) > 0 {
			m = append(m, member{"citations", b.Citations})
		}
	case "image", "document":
		m = append(m, member{"source", b.Source})
		if b.Title != "" {
			m = append(m, member{"title", b.Title})
		}
	case "tool_use":
		input := b.Input
		if len(input) == 0 {
			input = jsontext.Value("{}")
		}
		m = append(m, member{"id", b.ID}, member{"name", b.Name}, member{"input", input})
	case "tool_result":
		m = append(m, member{"tool_use_id", b.ToolUseID})
		if b.Content != nil {
			m = append(m, member{"content", b.Content})
		}
		if b.IsError {
			m = append(m, member{"is_error", true})
		}
	case "thinking":
		m = append(m, member{"thinking", b.Thinking}, member{"signature", b.Signature})
	case "redacted_thinking":
		m = append(m, member{"data", b.Data})
	}
	if len(b.CacheControl) > 0 {
		m = append(m, member{"cache_control", b.CacheControl})
	}
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return err
	}
	for _, f := range m {
		if err := enc.WriteToken(jsontext.String(f.name)); err != nil {
			return err
		}
		if err := json.MarshalEncode(enc, f.value); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndObject)
}

type member struct {
	name  string
	value any
}

// Source is the source of an image or document block.
type Source struct {
	Type      string `json:"type"` // base64, url, text, content, file
	MediaType string `json:"media_type,omitzero"`
	Data      string `json:"data,omitzero"`
	URL       string `json:"url,omitzero"`
	FileID    string `json:"file_id,omitzero"`
}

// Tool is one element of tools: a client tool ({name, description,
// input_schema}, type absent or "custom") or a provider-defined tool
// (type "web_search_20250305", "bash_20250124", …).
type Tool struct {
	Type        string         `json:"type,omitzero"`
	Name        string         `json:"name"`
	Description string         `json:"description,omitzero"`
	InputSchema jsontext.Value `json:"input_schema,omitzero"`

	Unknown map[string]jsontext.Value `json:",embed"`
}

// ToolChoice is tool_choice.
type ToolChoice struct {
	Type                   string `json:"type"` // auto, any, tool, none
	Name                   string `json:"name,omitzero"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitzero"`
}

// MessageResponse is a non-streamed answer, and the message of a
// message_start event.
type MessageResponse struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage is the usage object. Counts are pointers on the way in, because
// message_delta carries only the counts that changed; InputTokens
// excludes the cache reads and writes.
type Usage struct {
	InputTokens              *int `json:"input_tokens,omitzero"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens,omitzero"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens,omitzero"`
	OutputTokens             *int `json:"output_tokens,omitzero"`
}

// StreamEvent is the data of any stream event; which fields apply depends
// on Type.
type StreamEvent struct {
	Type         string           `json:"type"`
	Message      *MessageResponse `json:"message,omitzero"`       // message_start
	Index        int              `json:"index"`                  // content_block_*
	ContentBlock *Block           `json:"content_block,omitzero"` // content_block_start
	Delta        *Delta           `json:"delta,omitzero"`         // content_block_delta, message_delta
	Usage        *Usage           `json:"usage,omitzero"`         // message_delta
	Error        *ErrorBody       `json:"error,omitzero"`         // error
}

// Delta is the delta of content_block_delta (text_delta, input_json_delta,
// thinking_delta, signature_delta, citations_delta) or of message_delta.
type Delta struct {
	Type         string  `json:"type,omitzero"`
	Text         string  `json:"text,omitzero"`
	PartialJSON  string  `json:"partial_json,omitzero"`
	Thinking     string  `json:"thinking,omitzero"`
	Signature    string  `json:"signature,omitzero"`
	StopReason   *string `json:"stop_reason,omitzero"`
	StopSequence *string `json:"stop_sequence,omitzero"`
}

// ErrorEnvelope is an error body: Anthropic's
// {"type":"error","error":{"type","message"}} or Clewdr's own
// {"error":{"message","type","code"}}.
type ErrorEnvelope struct {
	Type  string     `json:"type,omitzero"`
	Error *ErrorBody `json:"error"`
}

// ErrorBody is the error object. Message is a string at Anthropic and a
// string or an object at Clewdr; Code is Clewdr's HTTP status.
type ErrorBody struct {
	Type    string         `json:"type"`
	Message jsontext.Value `json:"message"`
	Code    jsontext.Value `json:"code,omitzero"`
}

// Text returns the error message as text: the string, or an object's
// compact JSON.
func (e *ErrorBody) Text() string {
	if e == nil || len(e.Message) == 0 {
		return ""
	}
	if e.Message.Kind() == '"' {
		var s string
		_ = json.Unmarshal(e.Message, &s)
		return s
	}
	v := e.Message.Clone()
	if err := v.Compact(); err != nil {
		return ""
	}
	return string(v)
}

// CountTokensResponse is the answer of /v1/messages/count_tokens.
type CountTokensResponse struct {
	InputTokens int `json:"input_tokens"`
}

// ModelInfo is one entry of GET /v1/models.
type ModelInfo struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Data    []ModelInfo `json:"data"`
	HasMore bool        `json:"has_more"`
	FirstID *string     `json:"first_id"`
	LastID  *string     `json:"last_id"`
}
