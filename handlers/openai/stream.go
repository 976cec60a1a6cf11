package openai

import (
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// NewStream implements handlers.Dialect.
func (Dialect) NewStream(w http.ResponseWriter, m *handlers.Meta) handlers.StreamWriter {
	// Every chunk starts with the same id, created and model; build that
	// prefix once.
	prefix := append(make([]byte, 0, 128), `data: {"id":`...)
	prefix, _ = jsontext.AppendQuote(prefix, ResponseID(m.ID))
	prefix = append(prefix, `,"object":"chat.completion.chunk","created":`...)
	prefix = strconv.AppendInt(prefix, m.Created.Unix(), 10)
	prefix = append(prefix, `,"model":`...)
	prefix, _ = jsontext.AppendQuote(prefix, m.Model)
	prefix = append(prefix, `,"choices":[`...)
	return &streamWriter{
		sse:          handlers.StartSSE(w),
		prefix:       prefix,
		includeUsage: m.Request != nil && m.Request.IncludeUsage,
	}
}

// streamWriter writes chat.completion.chunk events: a role chunk first,
// content and tool-call deltas as they come, then a finish chunk, the usage
// chunk when the client asked for it, and [DONE]. It never writes event:
// lines, which OpenAI clients treat as errors.
type streamWriter struct {
	sse          *handlers.SSE
	prefix       []byte
	includeUsage bool

	started bool
	// toolArgs records, per tool call, whether any argument fragment was
	// sent; calls without one get "{}" at the end, never "".
	toolArgs []bool
	finish   unified.FinishReason
	usage    unified.Usage
}

const chunkEnd = `,"finish_reason":null}]}` + "\n\n"

// Event implements handlers.StreamWriter.
func (s *streamWriter) Event(ev unified.Event) error {
	b := s.sse.Buf[:0]
	if !s.started {
		s.started = true
		b = append(b, s.prefix...)
		b = append(b, `{"index":0,"delta":{"role":"assistant","content":""}`+chunkEnd...)
	}
	switch ev.Type {
	case unified.EventStart, unified.EventUsage:
		s.usage.Merge(ev.Usage)
	case unified.EventFinish:
		s.finish = ev.Finish
	case unified.EventText, unified.EventReasoning:
		if ev.Text == "" {
			break
		}
		b = append(b, s.prefix...)
		if ev.Type == unified.EventText {
			b = append(b, `{"index":0,"delta":{"content":`...)
		} else {
			b = append(b, `{"index":0,"delta":{"reasoning_content":`...)
		}
		b, _ = jsontext.AppendQuote(b, ev.Text)
		b = append(b, "}"+chunkEnd...)
	case unified.EventToolCallStart:
		if ev.Index == len(s.toolArgs) {
			s.toolArgs = append(s.toolArgs, false)
		}
		b = append(b, s.prefix...)
		b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		b = strconv.AppendInt(b, int64(ev.Index), 10)
		b = append(b, `,"id":`...)
		b, _ = jsontext.AppendQuote(b, ev.ID)
		b = append(b, `,"type":"function","function":{"name":`...)
		b, _ = jsontext.AppendQuote(b, ev.Name)
		b = append(b, `,"arguments":""}}]}`+chunkEnd...)
	case unified.EventToolCallDelta:
		if ev.Text == "" {
			break
		}
		if ev.Index >= 0 && ev.Index < len(s.toolArgs) {
			s.toolArgs[ev.Index] = true
		}
		b = append(b, s.prefix...)
		b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		b = strconv.AppendInt(b, int64(ev.Index), 10)
		b = append(b, `,"function":{"arguments":`...)
		b, _ = jsontext.AppendQuote(b, ev.Text)
		b = append(b, `}}]}`+chunkEnd...)
	}
	s.sse.Buf = b
	if len(b) == 0 {
		return nil
	}
	return s.sse.Send(b)
}

// End implements handlers.StreamWriter.
func (s *streamWriter) End() error {
	if err := s.Event(unified.Event{}); err != nil { // the role chunk, if none went out yet
		return err
	}
	b := s.sse.Buf[:0]
	for i, sent := range s.toolArgs {
		if !sent {
			b = append(b, s.prefix...)
			b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"function":{"arguments":"{}"}}]}`+chunkEnd...)
		}
	}
	finish := finishReason(s.finish, len(s.toolArgs) > 0)
	b = append(b, s.prefix...)
	b = append(b, `{"index":0,"delta":{},"finish_reason":"`...)
	b = append(b, finish...)
	b = append(b, "\"}]}\n\n"...)
	if s.includeUsage {
		b = append(b, s.prefix...)
		u := s.usage
		b = append(b, `],"usage":{"prompt_tokens":`...)
		b = strconv.AppendInt(b, int64(u.InputTokens), 10)
		b = append(b, `,"completion_tokens":`...)
		b = strconv.AppendInt(b, int64(u.OutputTokens), 10)
		b = append(b, `,"total_tokens":`...)
		b = strconv.AppendInt(b, int64(u.Total()), 10)
		b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(u.CachedInput), 10)
		b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
		b = strconv.AppendInt(b, int64(u.ReasoningTokens), 10)
		b = append(b, "}}}\n\n"...)
	}
	b = append(b, "data: [DONE]\n\n"...)
	s.sse.Buf = b
	return s.sse.Send(b)
}

// Fail implements handlers.StreamWriter: an in-band error object, which
// the SDKs raise, and no [DONE].
func (s *streamWriter) Fail(e *unified.Error) error {
	b := append(s.sse.Buf[:0], "data: "...)
	b = appendError(b, e)
	b = append(b, "\n\n"...)
	s.sse.Buf = b
	return s.sse.Send(b)
}

// Ping implements handlers.Pinger with an SSE comment, which every SSE
// parser skips (the OpenAI SDKs included).
func (s *streamWriter) Ping() error {
	return s.sse.Send(append(s.sse.Buf[:0], ": ping\n\n"...))
}

var _ handlers.Pinger = (*streamWriter)(nil)
