package openai

import (
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/internal/openaiwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// encodeRequest writes req as a Chat Completions body.
func (p *OpenAI) encodeRequest(req *unified.Request, stream bool) ([]byte, error) {
	cr := openaiwire.ChatRequest{
		Model:             req.Model,
		Messages:          make([]openaiwire.Message, 0, len(req.Messages)),
		Stream:            stream,
		Temperature:       req.Temperature,
		TopP:              req.TopP,
		Stop:              req.Stop,
		Seed:              req.Seed,
		ParallelToolCalls: req.ParallelToolCalls,
		ResponseFormat:    req.ResponseFormat,
		User:              req.User,
	}
	if stream {
		// Always ask for usage: the gateway accounts every stream, whether
		// or not the client wants the usage chunk.
		cr.StreamOptions = &openaiwire.StreamOptions{IncludeUsage: true}
	}
	if req.MaxTokens != nil {
		if p.MaxTokensField == "max_completion_tokens" {
			cr.MaxCompletionTokens = req.MaxTokens
		} else {
			cr.MaxTokens = req.MaxTokens
		}
	}
	if p.openRouter {
		cr.TopK = req.TopK
	}
	if req.N > 1 {
		cr.N = &req.N
	}
	var toolMedia []openaiwire.ContentPart
	for i := range req.Messages {
		m := &req.Messages[i]
		cr.Messages = append(cr.Messages, encodeMessage(m))
		if m.Role == unified.RoleTool {
			toolMedia = appendToolMedia(toolMedia, m)
		}
		if len(toolMedia) > 0 && (i+1 == len(req.Messages) || req.Messages[i+1].Role != unified.RoleTool) {
			// Tool messages carry only text: the images of the results
			// follow in a user message, after the whole run of tool
			// messages that must directly follow the assistant's calls.
			cr.Messages = append(cr.Messages, openaiwire.Message{Role: "user", Content: openaiwire.Content{Parts: toolMedia}})
			toolMedia = nil
		}
	}
	if len(req.Tools) > 0 {
		cr.Tools = make([]openaiwire.Tool, len(req.Tools))
		for i, t := range req.Tools {
			cr.Tools[i] = openaiwire.Tool{Type: "function", Function: openaiwire.FunctionDef{
				Name: t.Name, Description: t.Description, Parameters: t.Parameters, Strict: t.Strict,
			}}
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case unified.ToolChoiceTool:
			b, _ := jsontext.AppendQuote([]byte(`{"type":"function","function":{"name":`), tc.Name)
			cr.ToolChoice = append(b, "}}"...)
		default:
			cr.ToolChoice, _ = jsontext.AppendQuote(nil, string(tc.Mode))
		}
	}
	if req.ExtensionsDialect == "openai" && len(req.Extensions) > 0 {
		cr.Unknown = req.Extensions
	}
	if req.Reasoning != nil {
		cr.ReasoningEffort = req.Reasoning.Level()
	}
	return json.Marshal(&cr)
}

func encodeMessage(m *unified.Message) openaiwire.Message {
	out := openaiwire.Message{Role: string(m.Role), Name: m.Name}
	switch m.Role {
	case unified.RoleTool:
		out.ToolCallID = m.ToolCallID
		text := unified.JoinText(m.Content)
		if m.IsError {
			text = "Error: " + text
		}
		out.Content.Text = text
		return out
	case unified.RoleAssistant:
		text := unified.JoinText(m.Content)
		if text == "" && len(m.ToolCalls) > 0 {
			out.Content.Null = true
		} else {
			out.Content.Text = text
		}
		for _, tc := range m.ToolCalls {
			out.ToolCalls = append(out.ToolCalls, openaiwire.ToolCall{ID: tc.ID, Type: "function",
				Function: openaiwire.FunctionCall{Name: tc.Name, Arguments: tc.Arguments}})
		}
		return out
	}
	if len(m.Content) <= 1 && onlyText(m.Content) {
		out.Content.Text = unified.JoinText(m.Content)
		return out
	}
	out.Content.Parts = make([]openaiwire.ContentPart, 0, len(m.Content))
	for _, p := range m.Content {
		out.Content.Parts = append(out.Content.Parts, encodePart(p))
	}
	return out
}

func onlyText(parts []unified.Part) bool {
	for _, p := range parts {
		if p.Type != unified.PartText {
			return false
		}
	}
	return true
}

func encodePart(p unified.Part) openaiwire.ContentPart {
	switch p.Type {
	case unified.PartImage:
		return openaiwire.ContentPart{Type: "image_url", ImageURL: &openaiwire.MediaURL{URL: mediaURL(p), Detail: p.Detail}}
	case unified.PartVideo:
		return openaiwire.ContentPart{Type: "video_url", VideoURL: &openaiwire.MediaURL{URL: mediaURL(p)}}
	case unified.PartAudio:
		format := strings.TrimPrefix(p.MIMEType, "audio/")
		if format == "mpeg" {
			format = "mp3"
		}
		return openaiwire.ContentPart{Type: "input_audio", InputAudio: &openaiwire.InputAudio{Data: p.Data, Format: format}}
	case unified.PartFile:
		return openaiwire.ContentPart{Type: "file", File: &openaiwire.File{FileData: mediaURL(p), Filename: p.Filename}}
	default:
		text := p.Text
		return openaiwire.ContentPart{Type: "text", Text: &text}
	}
}

// mediaURL is the part's URL, or its inline data as a data URI.
func mediaURL(p unified.Part) string {
	if p.URL != "" {
		return p.URL
	}
	return unified.DataURI(p.MIMEType, p.Data)
}

// appendToolMedia appends the images (and other media) of a tool result,
// introduced by a line naming the call they belong to.
func appendToolMedia(parts []openaiwire.ContentPart, m *unified.Message) []openaiwire.ContentPart {
	intro := false
	for _, p := range m.Content {
		if p.Type == unified.PartText || p.Type == unified.PartThinking || p.Type == unified.PartRedactedThinking {
			continue
		}
		if !intro {
			intro = true
			text := "Attachments of the result of tool call " + m.ToolCallID + ":"
			parts = append(parts, openaiwire.ContentPart{Type: "text", Text: &text})
		}
		parts = append(parts, encodePart(p))
	}
	return parts
}
