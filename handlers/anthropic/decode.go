package anthropic

import (
	"errors"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/internal/anthropicwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// DecodeRequest implements handlers.Dialect. The body is kept as the
// request's Native form, so an Anthropic-native provider receives it as
// the client wrote it; the decoded fields serve every other provider.
func (d Dialect) DecodeRequest(body []byte) (*unified.Request, error) {
	var mr anthropicwire.MessagesRequest
	if err := json.Unmarshal(body, &mr); err != nil {
		return nil, jsonError(err)
	}
	if mr.Model == "" {
		return nil, unified.InvalidParam("model", "Field required")
	}
	if !d.CountTokens {
		if mr.MaxTokens == nil {
			return nil, unified.InvalidParam("max_tokens", "Field required")
		}
	}
	if len(mr.Messages) == 0 {
		return nil, unified.InvalidParam("messages", "at least one message is required")
	}
	// Anthropic's temperature is 0..1, a narrower field than the unified
	// 0..2 that package validate checks.
	if t := mr.Temperature; t != nil && (*t < 0 || *t > 1) {
		return nil, unified.InvalidParam("temperature", "must be between 0 and 1")
	}
	req := &unified.Request{
		Model:       mr.Model,
		Messages:    make([]unified.Message, 0, len(mr.Messages)+1),
		MaxTokens:   mr.MaxTokens,
		Temperature: mr.Temperature, // Anthropic's 0..1 is the lower half of the unified 0..2, unchanged
		TopP:        mr.TopP,
		TopK:        mr.TopK,
		Stop:        mr.StopSequences,
		Stream:      mr.Stream && !d.CountTokens,

		Extensions:        mr.Unknown,
		ExtensionsDialect: Name,
		Native:            body,
		AnthropicBeta:     d.Beta,
		SentMessages:      len(mr.Messages),
		SentTools:         len(mr.Tools),
	}
	if mr.Metadata != nil {
		req.User = mr.Metadata.UserID
	}
	if raw, ok := mr.Unknown["thinking"]; ok {
		r, err := reasoning(raw)
		if err != nil {
			return nil, err
		}
		req.Reasoning = r
	}
	dc := decoder{req: req}
	if err := dc.system(&mr.System); err != nil {
		return nil, err
	}
	for i := range mr.Messages {
		if err := dc.message(&mr.Messages[i], i); err != nil {
			return nil, err
		}
	}
	for i := range mr.Tools {
		if err := dc.tool(&mr.Tools[i], i); err != nil {
			return nil, err
		}
	}
	if tc := mr.ToolChoice; tc != nil {
		if err := dc.toolChoice(tc); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// decoder builds one unified request.
type decoder struct {
	req *unified.Request
}

// nativeOnly records the first thing in the request that only an
// Anthropic-native provider can serve.
func (dc *decoder) nativeOnly(what string) {
	if dc.req.NativeOnly == "" {
		dc.req.NativeOnly = what
	}
}

// system turns the system prompt into system messages, one per block, so
// that providers with several system prompts keep them apart.
func (dc *decoder) system(c *anthropicwire.Content) error {
	if c.Blocks == nil {
		if c.Text != "" {
			dc.req.Messages = append(dc.req.Messages, unified.Message{Role: unified.RoleSystem, Content: []unified.Part{unified.Text(c.Text)}})
		}
		return nil
	}
	for j := range c.Blocks {
		b := &c.Blocks[j]
		if b.Type != "text" {
			return unified.InvalidParam("system."+strconv.Itoa(j)+".type", "system blocks must be text blocks, not %q", b.Type)
		}
		if b.Text != "" {
			dc.req.Messages = append(dc.req.Messages, unified.Message{Role: unified.RoleSystem,
				Content: []unified.Part{{Type: unified.PartText, Text: b.Text, Origin: int32(j + 1)}},
				Origin:  unified.Origin{Block: int32(j + 1)}})
		}
	}
	return nil
}

// message decodes one message. A user message's tool_result blocks become
// tool messages, placed before the rest of its content as every other
// dialect wants them.
func (dc *decoder) message(m *anthropicwire.Message, i int) error {
	at := "messages." + strconv.Itoa(i)
	var role unified.Role
	switch m.Role {
	case "user":
		role = unified.RoleUser
	case "assistant":
		role = unified.RoleAssistant
	case "":
		return unified.InvalidParam(at+".role", "Field required")
	default:
		return unified.InvalidParam(at+".role", "role must be user or assistant, not %q (put system prompts in the top-level system field)", m.Role)
	}
	out := unified.Message{Role: role, Origin: unified.Origin{Message: int32(i + 1)}}
	if m.Content.Blocks == nil {
		if m.Content.Text != "" {
			out.Content = []unified.Part{unified.Text(m.Content.Text)}
		}
		dc.req.Messages = append(dc.req.Messages, out)
		return nil
	}
	out.Content = make([]unified.Part, 0, len(m.Content.Blocks))
	for j := range m.Content.Blocks {
		b := &m.Content.Blocks[j]
		bat := at + ".content." + strconv.Itoa(j)
		switch b.Type {
		case "tool_use":
			if role != unified.RoleAssistant {
				return unified.InvalidParam(bat+".type", "tool_use blocks belong in assistant messages")
			}
			if b.ID == "" || b.Name == "" {
				return unified.InvalidParam(bat, "a tool_use block needs an id and a name")
			}
			args := "{}"
			if len(b.Input) > 0 {
				if b.Input.Kind() != '{' {
					return unified.InvalidParam(bat+".input", "input must be an object")
				}
				args = string(b.Input)
			}
			out.ToolCalls = append(out.ToolCalls, unified.ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		case "tool_result":
			if role != unified.RoleUser {
				return unified.InvalidParam(bat+".type", "tool_result blocks belong in user messages")
			}
			if b.ToolUseID == "" {
				return unified.InvalidParam(bat+".tool_use_id", "Field required")
			}
			tm := unified.Message{Role: unified.RoleTool, ToolCallID: b.ToolUseID, IsError: b.IsError,
				Origin: unified.Origin{Message: int32(i + 1), Block: int32(j + 1)}}
			if c := b.Content; c != nil {
				parts, err := dc.toolResultContent(c, bat+".content")
				if err != nil {
					return err
				}
				tm.Content = parts
			}
			dc.req.Messages = append(dc.req.Messages, tm)
		default:
			p, ok, err := dc.part(b, role, bat)
			if err != nil {
				return err
			}
			if ok {
				p.Origin = int32(j + 1)
				out.Content = append(out.Content, p)
			}
		}
	}
	if len(out.Content) > 0 || len(out.ToolCalls) > 0 {
		dc.req.Messages = append(dc.req.Messages, out)
	}
	return nil
}

// part decodes a content block that becomes a part. ok is false for a
// block with nothing to carry (empty text) or one only an Anthropic-native
// provider can take (recorded in NativeOnly).
func (dc *decoder) part(b *anthropicwire.Block, role unified.Role, at string) (p unified.Part, ok bool, err error) {
	switch b.Type {
	case "text":
		return unified.Text(b.Text), b.Text != "", nil
	case "image":
		return dc.source(b, unified.PartImage, at)
	case "document":
		return dc.source(b, unified.PartFile, at)
	case "thinking":
		if role != unified.RoleAssistant {
			return p, false, unified.InvalidParam(at+".type", "thinking blocks belong in assistant messages")
		}
		return unified.Part{Type: unified.PartThinking, Text: b.Thinking, Signature: b.Signature}, true, nil
	case "redacted_thinking":
		if role != unified.RoleAssistant {
			return p, false, unified.InvalidParam(at+".type", "redacted_thinking blocks belong in assistant messages")
		}
		return unified.Part{Type: unified.PartRedactedThinking, Data: b.Data}, true, nil
	case "":
		return p, false, unified.InvalidParam(at+".type", "Field required")
	default:
		dc.nativeOnly(at + ": content block type " + strconv.Quote(b.Type))
		return p, false, nil
	}
}

// source decodes the source of an image or document block.
func (dc *decoder) source(b *anthropicwire.Block, t unified.PartType, at string) (unified.Part, bool, error) {
	s := b.Source
	if s == nil {
		return unified.Part{}, false, unified.InvalidParam(at+".source", "Field required")
	}
	p := unified.Part{Type: t, Filename: b.Title}
	switch s.Type {
	case "base64":
		if s.MediaType == "" || s.Data == "" {
			return p, false, unified.InvalidParam(at+".source", "a base64 source needs media_type and data")
		}
		p.MIMEType, p.Data = strings.ToLower(s.MediaType), s.Data
	case "url":
		if s.URL == "" {
			return p, false, unified.InvalidParam(at+".source.url", "Field required")
		}
		p.URL = s.URL
		if t == unified.PartFile {
			p.MIMEType = "application/pdf" // URL documents are PDFs
		}
	case "text":
		if t != unified.PartFile {
			return p, false, unified.InvalidParam(at+".source.type", "an image source must be base64 or url")
		}
		// A plain-text document is text to every other provider.
		return unified.Text(s.Data), s.Data != "", nil
	case "":
		return p, false, unified.InvalidParam(at+".source.type", "Field required")
	default:
		dc.nativeOnly(at + ": source type " + strconv.Quote(s.Type))
		return p, false, nil
	}
	return p, true, nil
}

// toolResultContent decodes a tool_result's content: a string, or text
// and image blocks.
func (dc *decoder) toolResultContent(c *anthropicwire.Content, at string) ([]unified.Part, error) {
	if c.Blocks == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []unified.Part{unified.Text(c.Text)}, nil
	}
	parts := make([]unified.Part, 0, len(c.Blocks))
	for j := range c.Blocks {
		p, ok, err := dc.part(&c.Blocks[j], unified.RoleUser, at+"."+strconv.Itoa(j))
		if err != nil {
			return nil, err
		}
		if ok {
			p.Origin = int32(j + 1)
			parts = append(parts, p)
		}
	}
	return parts, nil
}

func (dc *decoder) tool(t *anthropicwire.Tool, i int) error {
	at := "tools." + strconv.Itoa(i)
	if t.Type != "" && t.Type != "custom" {
		// Server tools (web search, code execution) and Anthropic-defined
		// client tools (bash, text editor, computer) have no schema another
		// provider could be given.
		dc.nativeOnly(at + ": tool type " + strconv.Quote(t.Type))
		return nil
	}
	if t.Name == "" {
		return unified.InvalidParam(at+".name", "Field required")
	}
	if len(t.InputSchema) == 0 {
		return unified.InvalidParam(at+".input_schema", "Field required")
	}
	dc.req.Tools = append(dc.req.Tools, unified.Tool{Name: t.Name, Description: t.Description, Parameters: t.InputSchema, Origin: int32(i + 1)})
	return nil
}

func (dc *decoder) toolChoice(tc *anthropicwire.ToolChoice) error {
	var c unified.ToolChoice
	switch tc.Type {
	case "auto":
		c.Mode = unified.ToolChoiceAuto
	case "any":
		c.Mode = unified.ToolChoiceRequired
	case "none":
		c.Mode = unified.ToolChoiceNone
	case "tool":
		if tc.Name == "" {
			return unified.InvalidParam("tool_choice.name", "Field required")
		}
		c.Mode, c.Name = unified.ToolChoiceTool, tc.Name
	default:
		return unified.InvalidParam("tool_choice.type", "tool_choice.type must be auto, any, tool or none")
	}
	dc.req.ToolChoice = &c
	if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse {
		no := false
		dc.req.ParallelToolCalls = &no
	}
	return nil
}

// reasoning reads the thinking member: {"type":"enabled","budget_tokens":N}
// asks for reasoning, {"type":"disabled"} does not; other types (newer
// modes) ask for it at the providers' default effort.
func reasoning(raw jsontext.Value) (*unified.Reasoning, error) {
	var t struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	}
	if err := json.Unmarshal(raw, &t); err != nil || t.Type == "" {
		return nil, unified.InvalidParam("thinking", "must be an object with a type")
	}
	switch t.Type {
	case "disabled":
		return nil, nil
	case "enabled":
		if t.BudgetTokens < unified.BudgetLow {
			return nil, unified.InvalidParam("thinking.budget_tokens", "must be at least 1024")
		}
		return &unified.Reasoning{BudgetTokens: t.BudgetTokens}, nil
	}
	return &unified.Reasoning{Effort: "medium"}, nil
}

// thinkingRequested reports whether the client turned on extended
// thinking, and so expects thinking blocks in the answer: its thinking
// member, decoded into Reasoning.
func thinkingRequested(r *unified.Request) bool {
	return r != nil && r.ExtensionsDialect == Name && r.Reasoning != nil
}

// jsonError turns a decoding failure into a 400 that names the field in
// Anthropic's dotted form (messages.0.content).
func jsonError(err error) *unified.Error {
	var se *json.SemanticError
	if errors.As(err, &se) && se.JSONPointer != "" {
		field := strings.ReplaceAll(strings.TrimPrefix(string(se.JSONPointer), "/"), "/", ".")
		field = strings.NewReplacer("~1", "/", "~0", "~").Replace(field)
		if se.Err != nil && !errors.Is(se.Err, errors.ErrUnsupported) {
			if msg := se.Err.Error(); !strings.Contains(msg, "json:") {
				return unified.InvalidParam(field, "%s", msg)
			}
		}
		if se.JSONKind != 0 {
			return unified.InvalidParam(field, "invalid type: got %s", kindName(se.JSONKind))
		}
		return unified.InvalidParam(field, "invalid value")
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return unified.Errorf(unified.KindInvalidRequest, "the request body is not valid JSON: %v", syn.Err)
	}
	return unified.Errorf(unified.KindInvalidRequest, "the request body is not valid JSON")
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a value"
}
