package anthropic

import (
	"strconv"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// FieldName implements handlers.FieldNamer with Anthropic's dotted
// syntax (messages.2.content.0.source.data). It follows the origins the
// decoder recorded, since decoding moves tool_result blocks into
// messages of their own and the system prompt into system messages.
func (Dialect) FieldName(req *unified.Request, _ []byte, at unified.Location) string {
	switch at.Field {
	case unified.FieldMessages:
		return "messages"
	case unified.FieldTools:
		return "tools"
	case unified.FieldMaxTokens:
		return "max_tokens"
	case unified.FieldTemperature:
		return "temperature"
	case unified.FieldTopP:
		return "top_p"
	case unified.FieldN:
		return "n"
	case unified.FieldToolSchema:
		return "tools." + strconv.Itoa(handlers.Position(req.Tools[at.Tool].Origin, at.Tool)) + ".input_schema"
	}
	if at.Message < 0 || at.Message >= len(req.Messages) {
		return "messages"
	}
	m := &req.Messages[at.Message]
	var path string
	switch {
	case m.Origin.Message == 0 && m.Role == unified.RoleSystem:
		path = "system"
		if m.Origin.Block > 0 {
			path += "." + strconv.Itoa(int(m.Origin.Block)-1)
		}
	case m.Origin.Message == 0:
		return "messages" // not decoded from a body: no origin to name
	default:
		path = "messages." + strconv.Itoa(int(m.Origin.Message)-1)
		if m.Origin.Block > 0 {
			path += ".content." + strconv.Itoa(int(m.Origin.Block)-1) // a tool_result block
		}
	}
	switch at.Field {
	case unified.FieldRole:
		return path + ".role"
	case unified.FieldToolCallID:
		return path + ".tool_use_id"
	}
	path += ".content"
	if at.Part < 0 || at.Part >= len(m.Content) {
		return path
	}
	p := &m.Content[at.Part]
	if p.Origin > 0 {
		path += "." + strconv.Itoa(int(p.Origin)-1)
	}
	switch at.Field {
	case unified.FieldPartData:
		return path + ".source.data"
	case unified.FieldPartMIMEType:
		return path + ".source.media_type"
	}
	return path
}

var _ handlers.FieldNamer = Dialect{}
