// Package echo is the test provider: it answers from the request itself,
// with no upstream, so the gateway runs on a fresh machine and load tests
// measure the gateway alone.
package echo

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

func init() { caddy.RegisterModule(Echo{}) }

// Echo is the provider type "echo", a test provider. It
//
//   - answers the text of the last user message (or of the last tool
//     result), streamed word by word when the client streams;
//   - when tools are declared (and tool_choice is not none) and the last
//     message is not a tool result, calls the chosen or first tool with
//     arguments derived from its JSON Schema;
//   - reports deterministic usage: one token per four bytes of prompt and
//     of answer.
type Echo struct {
	// ChunkDelay pauses between streamed words, to imitate a model's pace
	// in load tests. Default: none.
	ChunkDelay caddy.Duration `json:"chunk_delay,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Echo) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.xjp_gateway.providers.echo",
		New: func() caddy.Module { return new(Echo) },
	}
}

// UnmarshalCaddyfile parses the provider block:
//
//	provider <name> echo {
//	    chunk_delay <duration>
//	}
func (e *Echo) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the provider type
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "chunk_delay":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil {
				return d.Errf("bad chunk_delay %q: %v", s, err)
			}
			e.ChunkDelay = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized echo provider option %q", d.Val())
		}
	}
	return nil
}

// Capabilities implements connectors.Connector.
func (e *Echo) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{Documents: true}
}

// Generate implements connectors.Connector.
func (e *Echo) Generate(ctx context.Context, req *unified.Request) (*unified.Response, error) {
	return answer(req), nil
}

// Stream implements connectors.Connector.
func (e *Echo) Stream(ctx context.Context, req *unified.Request) (unified.Stream, error) {
	resp := answer(req)
	evs := make([]unified.Event, 0, 8)
	evs = append(evs, unified.Event{Type: unified.EventStart, Name: resp.Model,
		Usage: unified.Usage{InputTokens: resp.Usage.InputTokens}})
	for _, w := range words(resp.Text()) {
		evs = append(evs, unified.Event{Type: unified.EventText, Text: w})
	}
	for i, tc := range resp.ToolCalls {
		evs = append(evs,
			unified.Event{Type: unified.EventToolCallStart, Index: i, ID: tc.ID, Name: tc.Name},
			unified.Event{Type: unified.EventToolCallDelta, Index: i, Text: tc.Arguments})
	}
	evs = append(evs,
		unified.Event{Type: unified.EventFinish, Finish: resp.Finish},
		unified.Event{Type: unified.EventUsage, Usage: resp.Usage})
	s := &unified.SliceStream{Events: evs}
	if e.ChunkDelay <= 0 {
		return s, nil
	}
	return &pacedStream{ctx: ctx, inner: s, delay: time.Duration(e.ChunkDelay)}, nil
}

// answer computes the echo for req.
func answer(req *unified.Request) *unified.Response {
	resp := &unified.Response{Model: req.Model, Finish: unified.FinishStop}
	last := unified.Message{}
	if n := len(req.Messages); n > 0 {
		last = req.Messages[n-1]
	}
	if tool := chooseTool(req); tool != nil && last.Role != unified.RoleTool {
		resp.ToolCalls = []unified.ToolCall{{
			ID:        "call_echo_0",
			Name:      tool.Name,
			Arguments: string(exampleArgs(tool.Parameters, req.LastUserText())),
		}}
		resp.Finish = unified.FinishToolCalls
	} else {
		text := req.LastUserText()
		if last.Role == unified.RoleTool {
			text = unified.JoinText(last.Content)
		}
		if req.MaxTokens != nil && *req.MaxTokens > 0 && unified.EstimateTokens(text) > *req.MaxTokens {
			n := *req.MaxTokens * 4
			for n > 0 && !utf8.RuneStart(text[n]) {
				n--
			}
			text = text[:n]
			resp.Finish = unified.FinishLength
		}
		if text != "" {
			resp.Content = []unified.Part{unified.Text(text)}
		}
	}
	out := unified.EstimateTokens(resp.Text())
	for _, tc := range resp.ToolCalls {
		out += unified.EstimateTokens(tc.Name) + unified.EstimateTokens(tc.Arguments)
	}
	resp.Usage = unified.Usage{InputTokens: req.EstimateInputTokens(), OutputTokens: out}
	return resp
}

// chooseTool returns the tool the echo calls, or nil.
func chooseTool(req *unified.Request) *unified.Tool {
	if len(req.Tools) == 0 {
		return nil
	}
	tc := req.ToolChoice
	if tc != nil && tc.Mode == unified.ToolChoiceNone {
		return nil
	}
	if tc != nil && tc.Mode == unified.ToolChoiceTool {
		for i := range req.Tools {
			if req.Tools[i].Name == tc.Name {
				return &req.Tools[i]
			}
		}
	}
	return &req.Tools[0]
}

// schema is the part of JSON Schema the echo reads to invent arguments.
type schema struct {
	Type       jsontext.Value     `json:"type"`
	Properties map[string]*schema `json:"properties"`
	Items      *schema            `json:"items"`
	Enum       []jsontext.Value   `json:"enum"`
}

// exampleArgs builds an arguments object that fits the schema: strings
// carry text, numbers 1, booleans true, arrays one element.
func exampleArgs(params jsontext.Value, text string) []byte {
	var s schema
	if len(params) == 0 || json.Unmarshal(params, &s) != nil {
		return []byte("{}")
	}
	s.Type = jsontext.Value(`"object"`)
	b, err := json.Marshal(example(&s, text, 0), json.Deterministic(true))
	if err != nil {
		return []byte("{}")
	}
	return b
}

func example(s *schema, text string, depth int) any {
	if s == nil || depth > 8 {
		return nil
	}
	if len(s.Enum) > 0 {
		return s.Enum[0]
	}
	typ := strings.Trim(string(s.Type), `"[] `)
	typ, _, _ = strings.Cut(typ, `"`) // first of a type array
	switch typ {
	case "object":
		obj := make(map[string]any, len(s.Properties))
		for name, prop := range s.Properties {
			obj[name] = example(prop, text, depth+1)
		}
		return obj
	case "array":
		return []any{example(s.Items, text, depth+1)}
	case "integer", "number":
		return 1
	case "boolean":
		return true
	case "null":
		return nil
	default:
		return text
	}
}

// words splits text into chunks that each end after a space, so that
// their concatenation is the text.
func words(text string) []string {
	var out []string
	for text != "" {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	return out
}

// pacedStream delays each event after the first.
type pacedStream struct {
	ctx   context.Context
	inner unified.Stream
	delay time.Duration
	n     int
}

func (p *pacedStream) Next() (unified.Event, error) {
	if p.n > 0 {
		t := time.NewTimer(p.delay)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return unified.Event{}, p.ctx.Err()
		case <-t.C:
		}
	}
	p.n++
	return p.inner.Next()
}

func (p *pacedStream) Close() error { return p.inner.Close() }

// Interface guards
var (
	_ connectors.Connector  = (*Echo)(nil)
	_ caddyfile.Unmarshaler = (*Echo)(nil)
)
