package openai

import (
	"errors"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/internal/openaiwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// DecodeRequest implements handlers.Dialect.
func (Dialect) DecodeRequest(body []byte) (*unified.Request, error) {
	var cr openaiwire.ChatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, jsonError(err)
	}
	if cr.Model == "" {
		return nil, unified.InvalidParam("model", "model is required")
	}
	if len(cr.Messages) == 0 {
		return nil, unified.InvalidParam("messages", "messages must not be empty")
	}
	req := &unified.Request{
		Model:             cr.Model,
		Messages:          make([]unified.Message, 0, len(cr.Messages)),
		Temperature:       cr.Temperature,
		TopP:              cr.TopP,
		TopK:              cr.TopK,
		Stop:              cr.Stop,
		Seed:              cr.Seed,
		ParallelToolCalls: cr.ParallelToolCalls,
		ResponseFormat:    cr.ResponseFormat,
		Stream:            cr.Stream,
		User:              cr.User,
		MaxTokens:         cr.MaxCompletionTokens,
		SentMessages:      len(cr.Messages),
		SentTools:         len(cr.Tools),
	}
	if req.MaxTokens == nil {
		req.MaxTokens = cr.MaxTokens
	}
	if cr.N != nil {
		req.N = *cr.N
	}
	if cr.ReasoningEffort != "" {
		req.Reasoning = &unified.Reasoning{Effort: cr.ReasoningEffort}
	}
	if cr.StreamOptions != nil {
		req.IncludeUsage = cr.StreamOptions.IncludeUsage
	}
	for i := range cr.Messages {
		m, err := decodeMessage(&cr.Messages[i], i)
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, m)
	}
	for i, t := range cr.Tools {
		if t.Type != "function" {
			return nil, unified.InvalidParam(param("tools", i, "type"), "unsupported tool type %q: only function tools are supported", t.Type)
		}
		if t.Function.Name == "" {
			return nil, unified.InvalidParam(param("tools", i, "function.name"), "tool name is required")
		}
		req.Tools = append(req.Tools, unified.Tool{
			Name: t.Function.Name, Description: t.Function.Description,
			Parameters: t.Function.Parameters, Strict: t.Function.Strict, Origin: int32(i + 1),
		})
	}
	if len(cr.ToolChoice) > 0 && cr.ToolChoice.Kind() != 'n' {
		tc, err := decodeToolChoice(cr.ToolChoice)
		if err != nil {
			return nil, err
		}
		req.ToolChoice = tc
	}
	if len(cr.Unknown) > 0 {
		req.Extensions, req.ExtensionsDialect = cr.Unknown, "openai"
	}
	return req, nil
}

func decodeMessage(m *openaiwire.Message, i int) (unified.Message, error) {
	out := unified.Message{Name: m.Name, Origin: unified.Origin{Message: int32(i + 1)}}
	switch m.Role {
	case "system", "developer":
		out.Role = unified.RoleSystem
	case "user":
		out.Role = unified.RoleUser
	case "assistant":
		out.Role = unified.RoleAssistant
	case "tool":
		out.Role = unified.RoleTool
		if m.ToolCallID == "" {
			return out, unified.InvalidParam(param("messages", i, "tool_call_id"), "a tool message needs tool_call_id")
		}
		out.ToolCallID = m.ToolCallID
	case "":
		return out, unified.InvalidParam(param("messages", i, "role"), "role is required")
	default:
		return out, unified.InvalidParam(param("messages", i, "role"), "unsupported role %q", m.Role)
	}
	if m.Content.Parts == nil {
		if m.Content.Text != "" {
			out.Content = []unified.Part{unified.Text(m.Content.Text)}
		}
	} else {
		out.Content = make([]unified.Part, 0, len(m.Content.Parts))
		for j := range m.Content.Parts {
			p, err := decodePart(&m.Content.Parts[j], out.Role)
			if err != nil {
				err.Param = param("messages", i, "content") + "[" + strconv.Itoa(j) + "]"
				return out, err
			}
			p.Origin = int32(j + 1)
			out.Content = append(out.Content, p)
		}
	}
	if len(m.ToolCalls) > 0 {
		if out.Role != unified.RoleAssistant {
			return out, unified.InvalidParam(param("messages", i, "tool_calls"), "only assistant messages carry tool_calls")
		}
		for j, tc := range m.ToolCalls {
			if tc.ID == "" || tc.Function.Name == "" {
				return out, unified.InvalidParam(param("messages", i, "tool_calls")+"["+strconv.Itoa(j)+"]", "a tool call needs an id and a function name")
			}
			args := tc.Function.Arguments
			if strings.TrimSpace(args) == "" {
				args = "{}"
			}
			out.ToolCalls = append(out.ToolCalls, unified.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args})
		}
	}
	return out, nil
}

func decodePart(p *openaiwire.ContentPart, role unified.Role) (unified.Part, *unified.Error) {
	switch p.Type {
	case "text", "refusal":
		if p.Text == nil {
			return unified.Part{}, unified.InvalidParam("", "a text part needs text")
		}
		return unified.Text(*p.Text), nil
	}
	if role != unified.RoleUser {
		return unified.Part{}, unified.InvalidParam("", "only user messages may carry %s parts", p.Type)
	}
	switch p.Type {
	case "image_url":
		if p.ImageURL == nil || p.ImageURL.URL == "" {
			return unified.Part{}, unified.InvalidParam("", "an image_url part needs image_url.url")
		}
		return media(unified.PartImage, p.ImageURL.URL, p.ImageURL.Detail, "")
	case "video_url":
		if p.VideoURL == nil || p.VideoURL.URL == "" {
			return unified.Part{}, unified.InvalidParam("", "a video_url part needs video_url.url")
		}
		return media(unified.PartVideo, p.VideoURL.URL, "", "")
	case "input_audio":
		if p.InputAudio == nil || p.InputAudio.Data == "" {
			return unified.Part{}, unified.InvalidParam("", "an input_audio part needs input_audio.data")
		}
		mime := "audio/" + p.InputAudio.Format
		if p.InputAudio.Format == "mp3" {
			mime = "audio/mpeg"
		}
		return unified.Part{Type: unified.PartAudio, MIMEType: mime, Data: p.InputAudio.Data}, nil
	case "file":
		if p.File == nil || p.File.FileData == "" {
			return unified.Part{}, unified.InvalidParam("", "a file part needs file.file_data (uploaded file ids are not supported)")
		}
		return media(unified.PartFile, p.File.FileData, "", p.File.Filename)
	default:
		return unified.Part{}, unified.InvalidParam("", "unsupported content part type %q", p.Type)
	}
}

// media builds a media part from a URL, splitting a data URI into its MIME
// type and base64 payload.
func media(t unified.PartType, url, detail, filename string) (unified.Part, *unified.Error) {
	p := unified.Part{Type: t, Detail: detail, Filename: filename}
	if strings.HasPrefix(url, "data:") {
		mime, data, ok := unified.ParseDataURI(url)
		if !ok {
			return p, unified.InvalidParam("", "invalid data URI: want data:<mime>;base64,<data>")
		}
		p.MIMEType, p.Data = mime, data
		return p, nil
	}
	p.URL = url
	return p, nil
}

func decodeToolChoice(raw jsontext.Value) (*unified.ToolChoice, error) {
	if raw.Kind() == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		switch s {
		case "auto", "none", "required":
			return &unified.ToolChoice{Mode: unified.ToolChoiceMode(s)}, nil
		}
		return nil, unified.InvalidParam("tool_choice", "tool_choice must be auto, none, required or a function")
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Type != "function" || obj.Function.Name == "" {
		return nil, unified.InvalidParam("tool_choice", `tool_choice object must be {"type":"function","function":{"name":...}}`)
	}
	return &unified.ToolChoice{Mode: unified.ToolChoiceTool, Name: obj.Function.Name}, nil
}

// jsonError turns a decoding failure into a 400 that names the field.
func jsonError(err error) *unified.Error {
	var se *json.SemanticError
	if errors.As(err, &se) && se.JSONPointer != "" {
		field := pointerToParam(string(se.JSONPointer))
		want := ""
		if se.GoType != nil {
			want = jsonKindOf(se.GoType.String())
		}
		if want != "" {
			return unified.InvalidParam(field, "invalid type for %s: expected %s", field, want)
		}
		return unified.InvalidParam(field, "invalid value for %s", field)
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return unified.Errorf(unified.KindInvalidRequest, "the request body is not valid JSON: %v", syn.Err)
	}
	return unified.Errorf(unified.KindInvalidRequest, "the request body is not valid JSON")
}

// pointerToParam turns /messages/0/content into messages[0].content.
func pointerToParam(ptr string) string {
	var b strings.Builder
	for i, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}

func jsonKindOf(goType string) string {
	goType = strings.TrimLeft(goType, "*")
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]"), strings.HasSuffix(goType, "Stop"):
		return "an array"
	case strings.Contains(goType, "Content"):
		return "a string or an array of content parts"
	case strings.Contains(goType, "."):
		return "an object"
	}
	return ""
}

func param(field string, i int, sub string) string {
	return field + "[" + strconv.Itoa(i) + "]." + sub
}
