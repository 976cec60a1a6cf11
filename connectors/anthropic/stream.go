package anthropic

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/connectors/sse"
	"github.com/xiaojinpro/xjp-gateway/internal/anthropicwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// stream turns Messages stream events into unified events. For a native
// request every upstream event is also passed on verbatim (EventNative),
// ahead of the events derived from it.
type stream struct {
	ctx    context.Context
	p      *Anthropic
	body   io.ReadCloser
	native bool

	relay connectors.Relay
	ev    anthropicwire.StreamEvent

	finished bool // an EventFinish was queued

	usage  usageState
	blocks []block // by upstream block index
	tools  int     // tool calls so far
}

// block is what the stream remembers of an upstream content block.
type block struct {
	kind blockType
	tool int // unified index of a tool_use block
	// input is a tool_use block's start input when it was not {}: some
	// Messages-compatible servers send the whole input there and no deltas.
	input   jsontext.Value
	gotArgs bool
}

type blockType uint8

const (
	otherBlock blockType = iota // redacted_thinking, server tools, the unknown
	textBlock
	thinkingBlock
	toolBlock
)

func (p *Anthropic) newStream(ctx context.Context, resp *http.Response, native bool) *stream {
	return &stream{ctx: ctx, p: p, body: resp.Body, native: native,
		relay: connectors.Relay{SSE: sse.NewReader(resp.Body, 0)}}
}

// Next implements unified.Stream.
func (s *stream) Next() (unified.Event, error) { return s.relay.Next(s) }

// Pending implements unified.Pender.
func (s *stream) Pending() bool { return s.relay.Pending(s) }

// Step implements connectors.Stepper.
func (s *stream) Step() error {
	ev, err := s.relay.SSE.Next()
	switch {
	case errors.Is(err, io.EOF):
		return &unified.Error{Kind: unified.KindUpstream, Retryable: true,
			Message: "stream from provider " + s.p.name + " ended before the answer was complete"}
	case err != nil:
		return connectors.StreamBroken(s.ctx, s.p.name, err)
	}
	return s.decode(eventName(ev.Name), ev.Data)
}

func (s *stream) push(ev unified.Event) { s.relay.Push(ev) }

// ping passes a native client the upstream's ping; it means nothing else.
func (s *stream) ping(data []byte) {
	if s.native {
		s.push(unified.Event{Type: unified.EventNative, Name: "ping", Native: data})
	}
}

func (s *stream) decode(name string, data []byte) error {
	if name == "ping" {
		s.ping(data)
		return nil
	}
	s.ev = anthropicwire.StreamEvent{}
	if err := json.Unmarshal(data, &s.ev); err != nil {
		return unified.Errorf(unified.KindUpstream, "provider %s sent an unreadable %s event", s.p.name, cmp.Or(name, "stream"))
	}
	if name == "" {
		// No event: line. Anthropic always sends one; take the type from
		// the data for servers that do not.
		if name = s.ev.Type; name == "ping" {
			s.ping(data)
			return nil
		}
	}
	if name == "error" {
		if s.ev.Error == nil {
			s.ev.Error = &anthropicwire.ErrorBody{Type: "api_error"}
		}
		return s.p.streamError(s.ev.Error)
	}
	if s.native {
		s.push(unified.Event{Type: unified.EventNative, Name: name, Native: data})
	}
	e := &s.ev
	switch name {
	case "message_start":
		if e.Message == nil {
			return unified.Errorf(unified.KindUpstream, "provider %s sent message_start without a message", s.p.name)
		}
		s.push(unified.Event{Type: unified.EventStart, ID: e.Message.ID, Name: e.Message.Model, Usage: usage(&e.Message.Usage, &s.usage)})
	case "content_block_start":
		if e.Index > len(s.blocks)+maxBlockGap {
			// Blocks are numbered 0, 1, …; a wild index would make the
			// stream allocate its way to it.
			return unified.Errorf(unified.KindUpstream, "provider %s sent content block %d after %d blocks", s.p.name, e.Index, len(s.blocks))
		}
		s.blockStart(e.Index, e.ContentBlock)
	case "content_block_delta":
		s.blockDelta(e.Index, e.Delta)
	case "content_block_stop":
		if b := s.block(e.Index); b != nil && b.kind == toolBlock && !b.gotArgs && b.input != nil {
			s.push(unified.Event{Type: unified.EventToolCallDelta, Index: b.tool, Text: string(b.input)})
		}
	case "message_delta":
		if e.Delta != nil && e.Delta.StopReason != nil && !s.finished {
			s.finished = true
			s.push(unified.Event{Type: unified.EventFinish, Finish: FinishReason(*e.Delta.StopReason, s.tools > 0)})
		}
		s.push(unified.Event{Type: unified.EventUsage, Usage: usage(e.Usage, &s.usage)})
	case "message_stop":
		s.relay.Finish()
		if !s.finished {
			s.finished = true
			s.push(unified.Event{Type: unified.EventFinish, Finish: FinishReason("", s.tools > 0)})
		}
	}
	// Unknown events are tolerated, as the API asks.
	return nil
}

// maxBlockGap is how far past the blocks seen so far a content block may
// start; Anthropic numbers them consecutively.
const maxBlockGap = 64

func (s *stream) block(i int) *block {
	if i < 0 || i >= len(s.blocks) {
		return nil
	}
	return &s.blocks[i]
}

func (s *stream) blockStart(i int, cb *anthropicwire.Block) {
	if i < 0 || cb == nil {
		return
	}
	for len(s.blocks) <= i {
		s.blocks = append(s.blocks, block{})
	}
	b := &s.blocks[i]
	*b = block{}
	switch cb.Type {
	case "text":
		b.kind = textBlock
		if cb.Text != "" {
			s.push(unified.Event{Type: unified.EventText, Text: cb.Text})
		}
	case "thinking":
		b.kind = thinkingBlock
		if cb.Thinking != "" {
			s.push(unified.Event{Type: unified.EventReasoning, Text: cb.Thinking})
		}
		if cb.Signature != "" {
			s.push(unified.Event{Type: unified.EventReasoningSignature, Text: cb.Signature})
		}
	case "tool_use":
		b.kind, b.tool = toolBlock, s.tools
		s.tools++
		s.push(unified.Event{Type: unified.EventToolCallStart, Index: b.tool, ID: cb.ID, Name: cb.Name})
		if in := cb.Input; len(in) > 0 && !isEmptyObject(in) {
			b.input = in.Clone()
		}
	}
}

func (s *stream) blockDelta(i int, d *anthropicwire.Delta) {
	b := s.block(i)
	if b == nil || d == nil {
		return
	}
	switch d.Type {
	case "text_delta":
		if d.Text != "" {
			s.push(unified.Event{Type: unified.EventText, Text: d.Text})
		}
	case "thinking_delta":
		if d.Thinking != "" {
			s.push(unified.Event{Type: unified.EventReasoning, Text: d.Thinking})
		}
	case "signature_delta":
		if d.Signature != "" && b.kind == thinkingBlock {
			s.push(unified.Event{Type: unified.EventReasoningSignature, Text: d.Signature})
		}
	case "input_json_delta":
		if d.PartialJSON != "" && b.kind == toolBlock {
			b.gotArgs = true
			s.push(unified.Event{Type: unified.EventToolCallDelta, Index: b.tool, Text: d.PartialJSON})
		}
	}
}

func isEmptyObject(v jsontext.Value) bool {
	var n int
	for _, c := range v {
		switch c {
		case ' ', '\t', '\r', '\n':
		case '{', '}':
			n++
		default:
			return false
		}
	}
	return n == 2
}

// eventName returns the SSE event name as a string without allocating for
// the names the API defines.
func eventName(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "message_start":
		return "message_start"
	case "content_block_start":
		return "content_block_start"
	case "content_block_delta":
		return "content_block_delta"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	case "ping":
		return "ping"
	case "error":
		return "error"
	}
	return string(b)
}

// Close implements unified.Stream.
func (s *stream) Close() error { return s.body.Close() }
