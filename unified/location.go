package unified

// Checks that run on the unified request (package validate) find fault
// with a place in it; the client's dialect names that place in its own
// terms (messages[2].content[0].image_url.url for OpenAI clients,
// messages.2.content.0.source.data for Anthropic ones). Decoding may
// split, merge or drop what the client sent, so messages, parts and tools
// remember where they came from (their Origin fields).

// Origin locates a message in the client's request body. Positions are
// 1-based; 0 means "not from an array" (Anthropic's system string, a
// string content) or, for requests built by code, unknown.
type Origin struct {
	// Message is the position of the message in the client's messages
	// array.
	Message int32
	// Block is, for a dialect that turns one content block into a message
	// of its own (Anthropic's tool_result blocks, and its system blocks),
	// the position of that block in the client's content (or system)
	// array.
	Block int32
}

// Field is a request field that checks after decoding can fault.
type Field uint8

const (
	FieldNone         Field = iota
	FieldMessages           // the messages array as a whole
	FieldTools              // the tools array as a whole
	FieldMaxTokens          // the maximum output tokens
	FieldTemperature        // temperature
	FieldTopP               // top_p
	FieldN                  // the number of choices
	FieldRole               // the role of Location.Message
	FieldToolCallID         // the call a tool result (Location.Message) answers
	FieldContent            // Location.Part of Location.Message, as a whole
	FieldPartData           // the inline data of Location.Part of Location.Message
	FieldPartMIMEType       // the media type of that part
	FieldToolSchema         // the parameters schema of Location.Tool
)

// Location is a place in a Request: a field, and the indexes (into
// Messages, a message's Content, Tools) that lead to it.
type Location struct {
	Field   Field
	Message int
	Part    int
	Tool    int
}
