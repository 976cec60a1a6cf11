package handlers

import "github.com/xiaojinpro/xjp-gateway/unified"

// FieldNamer is a Dialect that names a place in a request it decoded the
// way its clients know it, so that a problem found after decoding (by
// package validate) points at the client's own field: the param of an
// OpenAI error, the prefix of an Anthropic error's message.
type FieldNamer interface {
	// FieldName names at in req, which the dialect decoded from body.
	// It runs only when a request is refused, so it may read body again.
	FieldName(req *unified.Request, body []byte, at unified.Location) string
}

// Position is the 0-based index in the client's array of something with a
// 1-based origin (unified.Message.Origin, unified.Tool.Origin), or its
// index in the unified request when the origin is unknown.
func Position(origin int32, index int) int {
	if origin > 0 {
		return int(origin) - 1
	}
	return index
}
