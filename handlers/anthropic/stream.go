package anthropic

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/internal/anthropicwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// NewStream implements handlers.Dialect.
func (Dialect) NewStream(w http.ResponseWriter, m *handlers.Meta) handlers.StreamWriter {
	setRequestID(w.Header())
	return &streamWriter{
		sse:      handlers.StartSSE(w),
		id:       MessageID(m.ID),
		model:    m.Model,
		thinking: thinkingRequested(m.Request),
	}
}

// blockKind is the type of the open text or thinking block.
type blockKind uint8

const (
	noBlock blockKind = iota
	textBlock
	thinkingBlock
)

// streamWriter writes a Messages event stream, every event with its
// event: line. It works in one of two modes, chosen by the first event:
//
//   - passthrough, when the upstream speaks Messages itself and sends
//     EventNative events: each is written as it came, with the gateway's
//     message id and the public model name in message_start;
//   - translation, for every other upstream: message_start first, then
//     content blocks with contiguous indexes (a text or thinking block
//     closes when another block opens; tool_use blocks stay open until
//     the answer or a text block ends them, since a provider may stream
//     the arguments of several calls interleaved), then message_delta
//     with the stop reason and the usage, and message_stop.
type streamWriter struct {
	sse      *handlers.SSE
	id       string
	model    string
	thinking bool // write reasoning as thinking blocks: the client asked for it

	started bool
	native  bool

	next      int       // index of the next block
	open      blockKind // the open text or thinking block, if any
	openIndex int
	openTools []int // indexes of open tool_use blocks
	toolBlock []int // block index of each tool call, by its unified index

	finish unified.FinishReason
	usage  unified.Usage
}

// Event implements handlers.StreamWriter.
func (s *streamWriter) Event(ev unified.Event) error {
	if ev.Type == unified.EventNative {
		if !s.started {
			s.started, s.native = true, true
		}
		if !s.native {
			return nil
		}
		return s.writeNative(ev.Name, ev.Native)
	}
	if s.native {
		return nil
	}
	b := s.sse.Buf[:0]
	switch ev.Type {
	case unified.EventStart, unified.EventUsage:
		s.usage.Merge(ev.Usage)
	case unified.EventFinish:
		s.finish = ev.Finish
	}
	b = s.start(b)
	switch ev.Type {
	case unified.EventText:
		if ev.Text == "" {
			break // an empty delta must not open a block
		}
		if s.open != textBlock {
			b = s.closeAll(b)
			b = s.openBlock(b, textBlock, `{"type":"text","text":""}`)
		}
		b = s.delta(b, s.openIndex, `{"type":"text_delta","text":`, ev.Text)
	case unified.EventReasoning:
		if ev.Text == "" || !s.thinking {
			break
		}
		if s.open != thinkingBlock {
			b = s.closeAll(b)
			b = s.openBlock(b, thinkingBlock, `{"type":"thinking","thinking":"","signature":""}`)
		}
		b = s.delta(b, s.openIndex, `{"type":"thinking_delta","thinking":`, ev.Text)
	case unified.EventReasoningSignature:
		if ev.Text != "" && s.open == thinkingBlock {
			b = s.delta(b, s.openIndex, `{"type":"signature_delta","signature":`, ev.Text)
		}
	case unified.EventToolCallStart:
		b = s.closeOpen(b)
		for len(s.toolBlock) <= ev.Index {
			s.toolBlock = append(s.toolBlock, -1)
		}
		s.toolBlock[ev.Index] = s.next
		s.openTools = append(s.openTools, s.next)
		b = appendEvent(b, "content_block_start", `{"type":"content_block_start","index":`)
		b = strconv.AppendInt(b, int64(s.next), 10)
		b = append(b, `,"content_block":{"type":"tool_use","id":`...)
		b, _ = jsontext.AppendQuote(b, ev.ID)
		b = append(b, `,"name":`...)
		b, _ = jsontext.AppendQuote(b, ev.Name)
		b = append(b, `,"input":{}}}`+"\n\n"...)
		s.next++
	case unified.EventToolCallDelta:
		if ev.Text == "" || ev.Index < 0 || ev.Index >= len(s.toolBlock) || s.toolBlock[ev.Index] < 0 {
			break
		}
		b = s.delta(b, s.toolBlock[ev.Index], `{"type":"input_json_delta","partial_json":`, ev.Text)
	}
	s.sse.Buf = b
	if len(b) == 0 {
		return nil
	}
	return s.sse.Send(b)
}

// start appends message_start, once, before anything else.
func (s *streamWriter) start(b []byte) []byte {
	if s.started {
		return b
	}
	s.started = true
	b = appendEvent(b, "message_start", `{"type":"message_start","message":{"id":`)
	b, _ = jsontext.AppendQuote(b, s.id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b, _ = jsontext.AppendQuote(b, s.model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	b = appendUsage(b, s.usage)
	return append(b, "}}\n\n"...)
}

func (s *streamWriter) openBlock(b []byte, kind blockKind, block string) []byte {
	s.open, s.openIndex = kind, s.next
	s.next++
	b = appendEvent(b, "content_block_start", `{"type":"content_block_start","index":`)
	b = strconv.AppendInt(b, int64(s.openIndex), 10)
	b = append(b, `,"content_block":`...)
	b = append(b, block...)
	return append(b, "}\n\n"...)
}

// closeOpen closes the open text or thinking block.
func (s *streamWriter) closeOpen(b []byte) []byte {
	if s.open == noBlock {
		return b
	}
	s.open = noBlock
	return appendStop(b, s.openIndex)
}

// closeAll closes every open block.
func (s *streamWriter) closeAll(b []byte) []byte {
	b = s.closeOpen(b)
	for _, i := range s.openTools {
		b = appendStop(b, i)
	}
	s.openTools = s.openTools[:0]
	return b
}

func (s *streamWriter) delta(b []byte, index int, prefix, text string) []byte {
	b = appendEvent(b, "content_block_delta", `{"type":"content_block_delta","index":`)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"delta":`...)
	b = append(b, prefix...)
	b, _ = jsontext.AppendQuote(b, text)
	return append(b, "}}\n\n"...)
}

// End implements handlers.StreamWriter.
func (s *streamWriter) End() error {
	if s.native {
		return nil // message_stop came from the upstream
	}
	b := s.start(s.sse.Buf[:0])
	b = s.closeAll(b)
	b = appendEvent(b, "message_delta", `{"type":"message_delta","delta":{"stop_reason":"`)
	b = append(b, StopReason(s.finish, len(s.toolBlock) > 0)...)
	b = append(b, `","stop_sequence":null},"usage":`...)
	b = appendUsage(b, s.usage)
	b = append(b, "}\n\n"...)
	b = appendEvent(b, "message_stop", `{"type":"message_stop"}`)
	b = append(b, "\n\n"...)
	s.sse.Buf = b
	return s.sse.Send(b)
}

// Fail implements handlers.StreamWriter: an error event, which the SDKs
// raise as an API error of its type.
func (s *streamWriter) Fail(e *unified.Error) error {
	b := appendEvent(s.sse.Buf[:0], "error", "")
	b = appendError(b, e)
	b = append(b, "\n\n"...)
	s.sse.Buf = b
	return s.sse.Send(b)
}

// pingEvent is the keep-alive event, byte for byte as Anthropic sends it.
const pingEvent = "event: ping\ndata: {\"type\": \"ping\"}\n\n"

// Ping implements handlers.Pinger.
func (s *streamWriter) Ping() error {
	return s.sse.Send(append(s.sse.Buf[:0], pingEvent...))
}

// writeNative writes an upstream event as it came, but for the id and the
// model of message_start.
func (s *streamWriter) writeNative(name string, data []byte) error {
	if name == "message_start" {
		if msg := anthropicwire.Get(data, "message"); msg != nil {
			if patched, err := anthropicwire.Patch(nil, msg,
				anthropicwire.Member{Name: "id", Value: anthropicwire.Quote(s.id)},
				anthropicwire.Member{Name: "model", Value: anthropicwire.Quote(s.model)}); err == nil {
				data, _ = anthropicwire.Patch(nil, data, anthropicwire.Member{Name: "message", Value: patched})
			}
		}
	}
	b := append(s.sse.Buf[:0], "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	if bytes.IndexByte(data, '\n') < 0 {
		b = append(b, data...)
	} else {
		// The upstream split its data over lines; keep each on its own data: line.
		b = append(b, bytes.ReplaceAll(data, []byte("\n"), []byte("\ndata: "))...)
	}
	b = append(b, "\n\n"...)
	s.sse.Buf = b
	return s.sse.Send(b)
}

// appendEvent appends the event: line and the start of the data: line.
func appendEvent(b []byte, name, data string) []byte {
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	return append(b, data...)
}

func appendStop(b []byte, index int) []byte {
	b = appendEvent(b, "content_block_stop", `{"type":"content_block_stop","index":`)
	b = strconv.AppendInt(b, int64(index), 10)
	return append(b, "}\n\n"...)
}

// appendUsage appends a usage object. Every count is present: in
// message_delta they are final totals, which the SDKs take over those of
// message_start (an OpenAI-compatible upstream reports the prompt size
// only at the end).
func appendUsage(b []byte, u unified.Usage) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(InputTokens(u)), 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CacheWriteInput), 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.CachedInput), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
	return append(b, '}')
}

var (
	_ handlers.StreamWriter = (*streamWriter)(nil)
	_ handlers.Pinger       = (*streamWriter)(nil)
)
