package validate_test

import (
	"strings"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	anthropicin "github.com/xiaojinpro/xjp-gateway/handlers/anthropic"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/unified"
	"github.com/xiaojinpro/xjp-gateway/validate"
)

type dialect interface {
	handlers.Dialect
	handlers.FieldNamer
}

// check runs a body through a dialect's decoder and the validator, as the
// gateway does, and returns the error the client would get.
func check(d dialect, body string, l validate.Limits) *unified.Error {
	req, err := d.DecodeRequest([]byte(body))
	if err != nil {
		return unified.AsError(err)
	}
	p := validate.Request(req, l)
	if p == nil {
		return nil
	}
	return &unified.Error{Kind: unified.KindInvalidRequest, Param: d.FieldName(req, []byte(body), p.At), Message: p.Message}
}

var defaults = validate.Limits{MaxMessages: 100, MaxTools: 128}

const (
	png     = `iVBORw0KGgo=`
	badB64  = `iVBOR w0KGgo=`
	oaUser  = `{"role":"user","content":"hi"}`
	anUser  = `{"role":"user","content":"hi"}`
	oaCalls = `{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}`
	anCalls = `{"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"toolu_1","name":"f","input":{}}]}`
)

func oa(fields, messages string) string {
	if fields != "" {
		fields += ","
	}
	return `{"model":"m",` + fields + `"messages":[` + messages + `]}`
}

func an(fields, messages string) string {
	if fields != "" {
		fields += ","
	}
	return `{"model":"m","max_tokens":100,` + fields + `"messages":[` + messages + `]}`
}

// TestValidationInBothDialects is the validation table: each problem, as
// an OpenAI client and as an Anthropic client writes it, and the field
// each is told about. An empty body skips a dialect that cannot express
// the problem; an empty param with an empty message means "accepted".
func TestValidationInBothDialects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		limits           *validate.Limits
		openai, oaParam  string
		anthropic, param string
		message          string
	}{
		{name: "valid", openai: oa(`"temperature":2,"top_p":1,"max_tokens":5`, oaUser),
			anthropic: an(`"temperature":1,"top_p":0`, anUser)},
		{name: "malformed JSON", openai: `{"model":"m",`, anthropic: `{"model":"m",`, message: "not valid JSON"},
		{name: "wrong type", openai: oa(`"temperature":"hot"`, oaUser), oaParam: "temperature",
			anthropic: an(`"temperature":"hot"`, anUser), param: "temperature", message: "type"},
		{name: "empty messages", openai: oa("", ""), oaParam: "messages",
			anthropic: an("", ""), param: "messages", message: "message"},
		{name: "unknown role", openai: oa("", `{"role":"robot","content":"x"}`), oaParam: "messages[0].role",
			anthropic: an("", `{"role":"robot","content":"x"}`), param: "messages.0.role", message: "robot"},
		{name: "temperature above the range", openai: oa(`"temperature":2.5`, oaUser), oaParam: "temperature",
			anthropic: an(`"temperature":1.5`, anUser), param: "temperature", message: "between 0 and"},
		{name: "temperature below the range", openai: oa(`"temperature":-0.1`, oaUser), oaParam: "temperature",
			anthropic: an(`"temperature":-0.1`, anUser), param: "temperature", message: "between 0 and"},
		{name: "top_p above 1", openai: oa(`"top_p":1.01`, oaUser), oaParam: "top_p",
			anthropic: an(`"top_p":1.01`, anUser), param: "top_p", message: "between 0 and 1"},
		{name: "max tokens below 1", openai: oa(`"max_tokens":0`, oaUser), oaParam: "max_tokens",
			anthropic: `{"model":"m","max_tokens":0,"messages":[` + anUser + `]}`, param: "max_tokens", message: "at least 1"},
		{name: "max_completion_tokens named as sent", openai: oa(`"max_completion_tokens":-3`, oaUser), oaParam: "max_completion_tokens",
			message: "at least 1"},
		{name: "max tokens over the limit", limits: &validate.Limits{MaxOutputTokens: 4096},
			openai: oa(`"max_tokens":4097`, oaUser), oaParam: "max_tokens",
			anthropic: `{"model":"m","max_tokens":5000,"messages":[` + anUser + `]}`, param: "max_tokens", message: "at most 4096"},
		{name: "max tokens at the limit", limits: &validate.Limits{MaxOutputTokens: 4096},
			openai: oa(`"max_completion_tokens":4096`, oaUser), anthropic: `{"model":"m","max_tokens":4096,"messages":[` + anUser + `]}`},
		{name: "n > 1 where the route cannot", openai: oa(`"n":2`, oaUser), oaParam: "n", message: "one choice"},
		{name: "n > 1 where the route can", limits: &validate.Limits{MultipleChoices: true}, openai: oa(`"n":3`, oaUser)},
		{name: "too many messages", limits: &validate.Limits{MaxMessages: 2},
			openai: oa("", oaUser+","+`{"role":"assistant","content":"a"}`+","+oaUser), oaParam: "messages",
			anthropic: an("", anUser+","+`{"role":"assistant","content":"a"}`+","+anUser), param: "messages", message: "too many messages: 3"},
		{name: "tool results and the system prompt are not extra messages", limits: &validate.Limits{MaxMessages: 3},
			anthropic: an(`"system":[{"type":"text","text":"a"},{"type":"text","text":"b"}]`, anUser+`,
				{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}},{"type":"tool_use","id":"t2","name":"f","input":{}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"1"},{"type":"tool_result","tool_use_id":"t2","content":"2"},{"type":"text","text":"go on"}]}`)},
		{name: "too many tools", limits: &validate.Limits{MaxTools: 1},
			openai: `{"model":"m","messages":[` + oaUser + `],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b"}}]}`, oaParam: "tools",
			anthropic: an(`"tools":[{"name":"a","input_schema":{}},{"name":"b","input_schema":{}}]`, anUser), param: "tools", message: "too many tools: 2"},
		{name: "server tools count as tools", limits: &validate.Limits{MaxTools: 1},
			anthropic: an(`"tools":[{"name":"a","input_schema":{}},{"type":"web_search_20250305","name":"web_search"}]`, anUser), param: "tools", message: "too many tools: 2"},
		{name: "tool schema not an object",
			openai:    `{"model":"m","messages":[` + oaUser + `],"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b","parameters":"object"}}]}`,
			oaParam:   "tools[1].function.parameters",
			anthropic: an(`"tools":[{"type":"web_search_20250305","name":"web_search"},{"name":"b","input_schema":[]}]`, anUser), param: "tools.1.input_schema",
			message: "JSON Schema object"},
		{name: "invalid data URI", openai: oa("", `{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,`+png+`"}}]}`),
			oaParam: "messages[0].content[0]", message: "data URI"},
		{name: "invalid base64 image",
			openai:    oa("", oaUser+`,{"role":"assistant","content":"a"},{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/png;base64,`+badB64+`"}}]}`),
			oaParam:   "messages[2].content[1].image_url.url",
			anthropic: an("", anUser+`,{"role":"assistant","content":"a"},{"role":"user","content":[{"type":"text","text":""},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"`+badB64+`"}}]}`),
			param:     "messages.2.content.1.source.data", message: "not valid base64"},
		{name: "image that is not an image",
			openai:    oa("", `{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:text/plain;base64,QUJD"}}]}`),
			oaParam:   "messages[0].content[0].image_url.url",
			anthropic: an("", `{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"text/plain","data":"QUJD"}}]}`),
			param:     "messages.0.content.0.source.media_type", message: "not image data"},
		{name: "invalid base64 document",
			openai:    oa("", `{"role":"user","content":[{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0*","filename":"a.pdf"}}]}`),
			oaParam:   "messages[0].content[0].file.file_data",
			anthropic: an("", `{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0*"}}]}`),
			param:     "messages.0.content.0.source.data", message: "offset 7"},
		{name: "audio without a format",
			openai:  oa("", `{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGRg=="}}]}`),
			oaParam: "messages[0].content[0].input_audio.format", message: "media type"},
		{name: "invalid base64 audio",
			openai:  oa("", `{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGRg=","format":"wav"}}]}`),
			oaParam: "messages[0].content[0].input_audio.data", message: "not valid base64"},
		{name: "invalid base64 image in a tool result",
			anthropic: an("", anUser+","+anCalls+`,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[
				{"type":"text","text":"here"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"`+badB64+`"}}]}]}`),
			param: "messages.2.content.0.content.1.source.data", message: "not valid base64"},
		{name: "tool result with no matching call",
			openai:    oa("", oaUser+","+oaCalls+`,{"role":"tool","tool_call_id":"call_1","content":"ok"},{"role":"tool","tool_call_id":"call_9","content":"?"}`),
			oaParam:   "messages[3].tool_call_id",
			anthropic: an("", anUser+","+anCalls+`,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"},{"type":"tool_result","tool_use_id":"toolu_9","content":"?"}]}`),
			param:     "messages.2.content.1.tool_use_id", message: "answers no tool call"},
		{name: "tool result with no assistant turn before it",
			openai:    oa("", `{"role":"tool","tool_call_id":"call_1","content":"ok"}`),
			oaParam:   "messages[0].tool_call_id",
			anthropic: an("", `{"role":"user","content":[{"type":"text","text":"x"},{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]}`),
			param:     "messages.0.content.1.tool_use_id", message: "answers no tool call"},
		{name: "tool result answering an older turn",
			openai:    oa("", oaUser+","+oaCalls+`,{"role":"tool","tool_call_id":"call_1","content":"ok"},{"role":"assistant","content":"done"},{"role":"tool","tool_call_id":"call_1","content":"again"}`),
			oaParam:   "messages[4].tool_call_id",
			anthropic: an("", anUser+","+anCalls+`,{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"ok"}]},{"role":"assistant","content":"done"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"again"}]}`),
			param:     "messages.4.content.0.tool_use_id", message: "answers no tool call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := defaults
			if tt.limits != nil {
				l = *tt.limits
			}
			for _, c := range []struct {
				d           dialect
				body, param string
			}{
				{openaiin.Dialect{}, tt.openai, tt.oaParam},
				{anthropicin.Dialect{}, tt.anthropic, tt.param},
			} {
				if c.body == "" {
					continue
				}
				e := check(c.d, c.body, l)
				if tt.message == "" {
					if e != nil {
						t.Errorf("%s: refused: %v", c.d.Name(), e)
					}
					continue
				}
				if e == nil {
					t.Errorf("%s: accepted, want an error about %q", c.d.Name(), c.param)
					continue
				}
				if e.Kind != unified.KindInvalidRequest || e.Param != c.param || !strings.Contains(e.Message, tt.message) {
					t.Errorf("%s: error %d param %q message %q; want 400 param %q message ~%q",
						c.d.Name(), e.Status(), e.Param, e.Message, c.param, tt.message)
				}
			}
		})
	}
}
