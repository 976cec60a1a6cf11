package anthropic

import (
	"encoding/base64"
	"errors"
	"hash/fnv"
	"maps"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/internal/anthropicwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// mode is the kind of upstream call.
type mode uint8

const (
	modeGenerate mode = iota
	modeStream
	modeCount
)

var jsonTrue = jsontext.Value("true")

// encodeRequest writes the body for one call. A request from an Anthropic
// client is its own body with the model and stream flag replaced (count
// bodies have none); any other is translated from the unified model.
func (p *Anthropic) encodeRequest(req *unified.Request, m mode) ([]byte, error) {
	if err := p.check(req); err != nil {
		return nil, err
	}
	if isNative(req) {
		stream := anthropicwire.Member{Name: "stream"} // removed: a whole answer
		if m == modeStream {
			stream.Value = jsonTrue
		}
		return anthropicwire.Patch(make([]byte, 0, len(req.Native)+32), req.Native,
			anthropicwire.Member{Name: "model", Value: anthropicwire.Quote(req.Model)}, stream)
	}
	mr, err := p.translate(req, m)
	if err != nil {
		return nil, err
	}
	return json.Marshal(mr)
}

// check refuses what this provider cannot take, with a clear 400.
func (p *Anthropic) check(req *unified.Request) error {
	if err := req.CheckPortable(Dialect); err != nil {
		return err
	}
	if req.N > 1 {
		return unified.InvalidParam("n", "provider %s (Anthropic Messages) returns one choice per request; n must be 1", p.name)
	}
	if !p.documents {
		for i := range req.Messages {
			for _, part := range req.Messages[i].Content {
				if part.Type == unified.PartFile {
					return unified.InvalidParam("messages", "provider %s cannot take documents (file parts); route this model to a provider that can", p.name)
				}
			}
		}
	}
	return nil
}

// translate builds a Messages request from the unified model: system
// messages hoisted into system, tool results grouped first into one user
// turn, consecutive turns of one role merged, tool ids made valid for
// Anthropic, and the OpenAI temperature range clamped to Anthropic's.
func (p *Anthropic) translate(req *unified.Request, m mode) (*anthropicwire.MessagesRequest, error) {
	system, rest := req.SplitSystem()
	mr := &anthropicwire.MessagesRequest{Model: req.Model, Stream: m == modeStream}
	for _, part := range system {
		if part.Type == unified.PartText && part.Text != "" {
			mr.System.Blocks = append(mr.System.Blocks, anthropicwire.Block{Type: "text", Text: part.Text})
		}
	}
	msgs, err := translateMessages(rest)
	if err != nil {
		return nil, err
	}
	mr.Messages = msgs
	for _, t := range req.Tools {
		schema := t.Parameters
		if len(schema) == 0 {
			schema = jsontext.Value(`{"type":"object","properties":{}}`)
		}
		mr.Tools = append(mr.Tools, anthropicwire.Tool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	if len(mr.Tools) > 0 {
		mr.ToolChoice = toolChoice(req.ToolChoice, req.ParallelToolCalls)
	}
	if req.ExtensionsDialect == Dialect && len(req.Extensions) > 0 {
		mr.Unknown = req.Extensions
	}
	if m == modeCount {
		return mr, nil // count_tokens takes no sampling parameters
	}
	maxTokens := p.DefaultMaxTokens
	if req.MaxTokens != nil && *req.MaxTokens > 0 {
		maxTokens = *req.MaxTokens
	}
	mr.MaxTokens = &maxTokens
	mr.Temperature = AnthropicTemperature(req.Temperature)
	mr.TopP, mr.TopK = req.TopP, req.TopK
	for _, s := range req.Stop {
		if strings.TrimSpace(s) != "" { // Anthropic refuses blank stop sequences
			mr.StopSequences = append(mr.StopSequences, s)
		}
	}
	if req.User != "" {
		mr.Metadata = &anthropicwire.Metadata{UserID: req.User}
	}
	thinking(mr, req.Reasoning)
	return mr, nil
}

// thinking asks for extended thinking with the request's budget. Anthropic
// wants max_tokens above the budget (the budget is part of the output) and
// refuses a changed temperature or top_k, or a top_p under 0.95, alongside
// thinking, which an OpenAI client setting reasoning_effort does not know:
// the budget is added to max_tokens, and those are left to their defaults.
func thinking(mr *anthropicwire.MessagesRequest, r *unified.Reasoning) {
	if r == nil || r.Budget() == 0 {
		return
	}
	if _, set := mr.Unknown["thinking"]; set {
		return
	}
	budget := r.Budget()
	b := strconv.AppendInt([]byte(`{"type":"enabled","budget_tokens":`), int64(budget), 10)
	mr.Unknown = maps.Clone(mr.Unknown) // it may be the request's own
	if mr.Unknown == nil {
		mr.Unknown = make(map[string]jsontext.Value, 1)
	}
	mr.Unknown["thinking"] = append(b, '}')
	if *mr.MaxTokens <= budget {
		total := *mr.MaxTokens + budget
		mr.MaxTokens = &total
	}
	mr.Temperature, mr.TopK = nil, nil
	if mr.TopP != nil && *mr.TopP < 0.95 {
		mr.TopP = nil // thinking allows only 0.95 to 1
	}
}

// AnthropicTemperature maps a unified (OpenAI, 0–2) temperature to
// Anthropic's 0–1 by clamping: values up to 1 mean the same on both sides
// (both default to 1), and 1–2, which Anthropic cannot express, become 1.
// Scaling instead would turn OpenAI's default of 1 into 0.5.
func AnthropicTemperature(t *float64) *float64 {
	if t == nil || (*t >= 0 && *t <= 1) {
		return t
	}
	c := min(max(*t, 0), 1)
	return &c
}

func toolChoice(tc *unified.ToolChoice, parallel *bool) *anthropicwire.ToolChoice {
	out := &anthropicwire.ToolChoice{Type: "auto"}
	if tc != nil {
		switch tc.Mode {
		case unified.ToolChoiceRequired:
			out.Type = "any"
		case unified.ToolChoiceTool:
			out.Type, out.Name = "tool", tc.Name
		case unified.ToolChoiceNone:
			return &anthropicwire.ToolChoice{Type: "none"}
		}
	} else if parallel == nil || *parallel {
		return nil // the provider's default
	}
	if parallel != nil && !*parallel {
		yes := true
		out.DisableParallelToolUse = &yes
	}
	return out
}

// translateMessages maps the conversation. Assistant turns carry their
// signed thinking, text and tool_use blocks; tool messages become
// tool_result blocks of a user turn, ahead of any text of that turn.
func translateMessages(rest []unified.Message) ([]anthropicwire.Message, error) {
	out := make([]anthropicwire.Message, 0, len(rest))
	for i := range rest {
		m := &rest[i]
		role := "user"
		var blocks []anthropicwire.Block
		var err error
		switch m.Role {
		case unified.RoleAssistant:
			role = "assistant"
			blocks, err = assistantBlocks(m)
		case unified.RoleTool:
			blocks, err = toolResult(m)
		default:
			blocks, err = contentBlocks(m.Content)
		}
		if err != nil {
			var ue *unified.Error
			if errors.As(err, &ue) && ue.Param == "" {
				ue.Param = "messages[" + strconv.Itoa(i) + "]"
			}
			return nil, err
		}
		if len(blocks) == 0 {
			continue // Anthropic refuses empty turns
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content.Blocks = append(out[n-1].Content.Blocks, blocks...)
			continue
		}
		out = append(out, anthropicwire.Message{Role: role, Content: anthropicwire.Content{Blocks: blocks}})
	}
	for i := range out {
		if out[i].Role == "user" {
			toolResultsFirst(out[i].Content.Blocks)
		}
	}
	return out, nil
}

// toolResultsFirst moves the tool_result blocks of a user turn ahead of
// its other blocks, keeping the order within each group.
func toolResultsFirst(blocks []anthropicwire.Block) {
	n := 0
	for i := range blocks {
		if blocks[i].Type != "tool_result" {
			continue
		}
		if i != n {
			b := blocks[i]
			copy(blocks[n+1:i+1], blocks[n:i])
			blocks[n] = b
		}
		n++
	}
}

func assistantBlocks(m *unified.Message) ([]anthropicwire.Block, error) {
	blocks := make([]anthropicwire.Block, 0, len(m.Content)+len(m.ToolCalls))
	for _, p := range m.Content {
		switch p.Type {
		case unified.PartThinking:
			// Anthropic verifies the signature; unsigned reasoning from
			// another provider cannot be replayed and is left out.
			if p.Signature != "" {
				blocks = append(blocks, anthropicwire.Block{Type: "thinking", Thinking: p.Text, Signature: p.Signature})
			}
		case unified.PartRedactedThinking:
			if p.Data != "" {
				blocks = append(blocks, anthropicwire.Block{Type: "redacted_thinking", Data: p.Data})
			}
		case unified.PartText:
			if p.Text != "" {
				blocks = append(blocks, anthropicwire.Block{Type: "text", Text: p.Text})
			}
		}
	}
	for _, tc := range m.ToolCalls {
		blocks = append(blocks, anthropicwire.Block{Type: "tool_use", ID: ToolID(tc.ID), Name: tc.Name,
			Input: anthropicwire.ToolInput(tc.Arguments)})
	}
	return blocks, nil
}

func toolResult(m *unified.Message) ([]anthropicwire.Block, error) {
	b := anthropicwire.Block{Type: "tool_result", ToolUseID: ToolID(m.ToolCallID), IsError: m.IsError}
	onlyText := true
	for _, p := range m.Content {
		if p.Type != unified.PartText {
			onlyText = false
		}
	}
	if onlyText {
		if text := unified.JoinText(m.Content); text != "" {
			b.Content = &anthropicwire.Content{Text: text}
		}
	} else {
		blocks, err := contentBlocks(m.Content)
		if err != nil {
			return nil, err
		}
		b.Content = &anthropicwire.Content{Blocks: blocks}
	}
	return []anthropicwire.Block{b}, nil
}

// contentBlocks maps user content: text, images and documents.
func contentBlocks(parts []unified.Part) ([]anthropicwire.Block, error) {
	blocks := make([]anthropicwire.Block, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case unified.PartText:
			if p.Text != "" {
				blocks = append(blocks, anthropicwire.Block{Type: "text", Text: p.Text})
			}
		case unified.PartImage:
			src, err := imageSource(p)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anthropicwire.Block{Type: "image", Source: src})
		case unified.PartFile:
			b, err := document(p)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, b)
		case unified.PartAudio:
			return nil, unified.Errorf(unified.KindInvalidRequest, "Anthropic models do not take audio input")
		case unified.PartVideo:
			return nil, unified.Errorf(unified.KindInvalidRequest, "Anthropic models do not take video input")
		}
	}
	return blocks, nil
}

// imageTypes are the image formats Anthropic accepts.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

func imageSource(p unified.Part) (*anthropicwire.Source, error) {
	if p.URL != "" {
		return &anthropicwire.Source{Type: "url", URL: p.URL}, nil
	}
	mime := p.MIMEType
	if mime == "image/jpg" {
		mime = "image/jpeg"
	}
	if !imageTypes[mime] {
		return nil, unified.Errorf(unified.KindInvalidRequest, "image type %q is not supported by Anthropic models: use JPEG, PNG, GIF or WebP", p.MIMEType)
	}
	return &anthropicwire.Source{Type: "base64", MediaType: mime, Data: p.Data}, nil
}

func document(p unified.Part) (anthropicwire.Block, error) {
	b := anthropicwire.Block{Type: "document", Title: p.Filename}
	switch {
	case p.URL != "" && (p.MIMEType == "" || p.MIMEType == "application/pdf"):
		b.Source = &anthropicwire.Source{Type: "url", URL: p.URL}
	case p.MIMEType == "application/pdf":
		b.Source = &anthropicwire.Source{Type: "base64", MediaType: "application/pdf", Data: p.Data}
	case p.MIMEType == "text/plain" && p.Data != "":
		text, err := base64.StdEncoding.DecodeString(p.Data)
		if err != nil {
			return b, unified.Errorf(unified.KindInvalidRequest, "a text/plain file is not valid base64")
		}
		b.Source = &anthropicwire.Source{Type: "text", MediaType: "text/plain", Data: string(text)}
	default:
		return b, unified.Errorf(unified.KindInvalidRequest, "file type %q is not supported by Anthropic models: send PDF or plain text", p.MIMEType)
	}
	return b, nil
}

// ToolID makes a tool-call id valid for Anthropic (^[a-zA-Z0-9_-]+$).
// Valid ids are kept; others have each invalid byte replaced by "_" and a
// hash of the original appended, so the mapping is deterministic (the
// same id in a tool_use and in its tool_result maps alike, turn after
// turn) and distinct ids stay distinct.
func ToolID(id string) string {
	valid := id != ""
	for i := 0; i < len(id) && valid; i++ {
		valid = isIDByte(id[i])
	}
	if valid {
		return id
	}
	b := make([]byte, 0, len(id)+17)
	if id == "" {
		b = append(b, "toolu"...)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !isIDByte(c) {
			c = '_'
		}
		b = append(b, c)
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	b = append(b, '_')
	b = strconv.AppendUint(b, h.Sum64(), 36)
	return string(b)
}

func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
