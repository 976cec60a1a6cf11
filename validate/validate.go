// Package validate checks a decoded request before it costs an upstream
// call: the limits the operator set, the ranges of sampling parameters,
// and what no provider would accept (inline data that is not base64, a
// tool result answering no call). It runs once, on the unified request,
// for every ingress dialect; the dialect names the faulty field in its
// own terms (see unified.Location).
//
// Decoders check the shape of their dialect's body (JSON types, required
// fields, enumerations such as roles); what is checked here is what the
// request asks for.
package validate

import (
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Limits bound a request. A zero or negative bound is no bound.
type Limits struct {
	// MaxMessages bounds the messages the client sent (Anthropic's system
	// prompt is not a message).
	MaxMessages int
	// MaxTools bounds the tools the client declared.
	MaxTools int
	// MaxOutputTokens bounds the output tokens a request may ask for.
	MaxOutputTokens int
	// MultipleChoices says whether the route can return n > 1 choices.
	MultipleChoices bool
}

// Problem is what is wrong with a request, and where.
type Problem struct {
	At unified.Location
	// Message says what is wrong without naming the field, which the
	// dialect names (as the param of an OpenAI error, before the message
	// of an Anthropic one).
	Message string
}

func problem(f unified.Field, msg string) *Problem {
	return &Problem{At: unified.Location{Field: f, Message: -1, Part: -1, Tool: -1}, Message: msg}
}

// Request checks req against l; nil means it is fine. Nothing here
// allocates unless a problem is found.
func Request(req *unified.Request, l Limits) *Problem {
	if t := req.Temperature; t != nil && (*t < 0 || *t > 2) {
		return problem(unified.FieldTemperature, "must be between 0 and 2, got "+formatFloat(*t))
	}
	if p := req.TopP; p != nil && (*p < 0 || *p > 1) {
		return problem(unified.FieldTopP, "must be between 0 and 1, got "+formatFloat(*p))
	}
	if mt := req.MaxTokens; mt != nil {
		if *mt < 1 {
			return problem(unified.FieldMaxTokens, "must be at least 1, got "+strconv.Itoa(*mt))
		}
		if l.MaxOutputTokens > 0 && *mt > l.MaxOutputTokens {
			return problem(unified.FieldMaxTokens, "must be at most "+strconv.Itoa(l.MaxOutputTokens)+
				" (this gateway's limit), got "+strconv.Itoa(*mt))
		}
	}
	if req.N > 1 && !l.MultipleChoices {
		return problem(unified.FieldN, "this model's provider returns one choice per request; n must be 1")
	}
	if len(req.Messages) == 0 {
		return problem(unified.FieldMessages, "at least one message is required")
	}
	if l.MaxMessages > 0 {
		if n := sent(req.SentMessages, len(req.Messages)); n > l.MaxMessages {
			return problem(unified.FieldMessages, "too many messages: "+strconv.Itoa(n)+
				", this gateway accepts at most "+strconv.Itoa(l.MaxMessages))
		}
	}
	if p := tools(req, l.MaxTools); p != nil {
		return p
	}
	return messages(req.Messages)
}

// sent is what the client sent when the dialect counted it, else what
// the request holds (a request built by code).
func sent(counted, held int) int {
	if counted > 0 {
		return counted
	}
	return held
}

func tools(req *unified.Request, limit int) *Problem {
	ts := req.Tools
	if limit > 0 {
		if n := sent(req.SentTools, len(ts)); n > limit {
			return problem(unified.FieldTools, "too many tools: "+strconv.Itoa(n)+
				", this gateway accepts at most "+strconv.Itoa(limit))
		}
	}
	for i := range ts {
		// A schema that is present must be an object; the decoders have
		// already checked that it is valid JSON.
		if s := ts[i].Parameters; len(s) > 0 && s.Kind() != '{' {
			p := problem(unified.FieldToolSchema, "must be a JSON Schema object, got "+kindName(s.Kind()))
			p.At.Tool = i
			return p
		}
	}
	return nil
}

// messages checks roles, tool results and content parts.
func messages(ms []unified.Message) *Problem {
	var calls []unified.ToolCall // of the latest assistant message
	for i := range ms {
		m := &ms[i]
		switch m.Role {
		case unified.RoleSystem, unified.RoleUser:
		case unified.RoleAssistant:
			calls = m.ToolCalls
		case unified.RoleTool:
			if !answers(calls, m.ToolCallID) {
				p := problem(unified.FieldToolCallID, "tool result for "+strconv.Quote(m.ToolCallID)+
					" answers no tool call of the preceding assistant message")
				p.At.Message = i
				return p
			}
		default:
			p := problem(unified.FieldRole, "unsupported role "+strconv.Quote(string(m.Role)))
			p.At.Message = i
			return p
		}
		for j := range m.Content {
			if p := part(&m.Content[j]); p != nil {
				p.At.Message, p.At.Part = i, j
				return p
			}
		}
	}
	return nil
}

func answers(calls []unified.ToolCall, id string) bool {
	for i := range calls {
		if calls[i].ID == id {
			return true
		}
	}
	return false
}

// part checks the inline data of a media part: a MIME type of the
// part's kind and a base64 payload.
func part(p *unified.Part) *Problem {
	var family string
	switch p.Type {
	case unified.PartImage:
		family = "image/"
	case unified.PartAudio:
		family = "audio/"
	case unified.PartVideo:
		family = "video/"
	case unified.PartFile:
	default:
		return nil // text and thinking carry no media
	}
	if p.Data == "" {
		if p.URL == "" {
			return problem(unified.FieldContent, "the part has neither a URL nor inline data")
		}
		return nil
	}
	if typ, sub, ok := strings.Cut(p.MIMEType, "/"); !ok || typ == "" || sub == "" {
		return problem(unified.FieldPartMIMEType, "inline data needs a media type such as image/png, got "+strconv.Quote(p.MIMEType))
	}
	if family != "" && !strings.HasPrefix(p.MIMEType, family) {
		return problem(unified.FieldPartMIMEType, "media type "+strconv.Quote(p.MIMEType)+" is not "+
			strings.TrimSuffix(family, "/")+" data")
	}
	if at, ok := Base64(p.Data); !ok {
		return problem(unified.FieldPartData, "the inline data is not valid base64 (standard alphabet, = padding; "+
			"first bad character at offset "+strconv.Itoa(at)+")")
	}
	return nil
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

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
	case '[':
		return "an array"
	}
	return "something else"
}
