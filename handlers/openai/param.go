package openai

import (
	"strconv"

	"github.com/go-json-experiment/json"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// FieldName implements handlers.FieldNamer with OpenAI's param syntax:
// messages[2].content[0].image_url.url.
func (Dialect) FieldName(req *unified.Request, body []byte, at unified.Location) string {
	switch at.Field {
	case unified.FieldMessages:
		return "messages"
	case unified.FieldTools:
		return "tools"
	case unified.FieldMaxTokens:
		return maxTokensField(body)
	case unified.FieldTemperature:
		return "temperature"
	case unified.FieldTopP:
		return "top_p"
	case unified.FieldN:
		return "n"
	case unified.FieldToolSchema:
		return "tools[" + strconv.Itoa(handlers.Position(req.Tools[at.Tool].Origin, at.Tool)) + "].function.parameters"
	}
	if at.Message < 0 || at.Message >= len(req.Messages) {
		return "messages"
	}
	m := &req.Messages[at.Message]
	path := "messages[" + strconv.Itoa(handlers.Position(m.Origin.Message, at.Message)) + "]"
	switch at.Field {
	case unified.FieldRole:
		return path + ".role"
	case unified.FieldToolCallID:
		return path + ".tool_call_id"
	}
	if at.Part < 0 || at.Part >= len(m.Content) {
		return path + ".content"
	}
	p := &m.Content[at.Part]
	path += ".content[" + strconv.Itoa(handlers.Position(p.Origin, at.Part)) + "]"
	switch at.Field {
	case unified.FieldPartData, unified.FieldPartMIMEType:
		switch p.Type {
		case unified.PartImage:
			return path + ".image_url.url"
		case unified.PartVideo:
			return path + ".video_url.url"
		case unified.PartFile:
			return path + ".file.file_data"
		case unified.PartAudio:
			if at.Field == unified.FieldPartMIMEType {
				return path + ".input_audio.format"
			}
			return path + ".input_audio.data"
		}
	}
	return path
}

// maxTokensField is the field the client set the output limit with: the
// current max_completion_tokens or the older max_tokens.
func maxTokensField(body []byte) string {
	var f struct {
		MaxCompletionTokens *int `json:"max_completion_tokens"`
	}
	if json.Unmarshal(body, &f) == nil && f.MaxCompletionTokens != nil {
		return "max_completion_tokens"
	}
	return "max_tokens"
}

var _ handlers.FieldNamer = Dialect{}
