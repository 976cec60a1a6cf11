package openai

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"

	"github.com/go-json-experiment/json"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/connectors/sse"
	"github.com/xiaojinpro/xjp-gateway/internal/openaiwire"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

var doneMarker = []byte("[DONE]")

// stream turns chat.completion.chunk events into unified events.
type stream struct {
	ctx  context.Context
	p    *OpenAI
	body io.ReadCloser

	relay connectors.Relay

	started  bool
	finished bool // a finish_reason arrived

	// upstreamTools maps our tool-call index (the position) to the
	// upstream's index, which need not start at 0 or be contiguous.
	upstreamTools []int

	// chunk is reused for every chunk, so decoding one does not allocate
	// the chunk or its choices again.
	chunk openaiwire.Chunk
}

func (p *OpenAI) newStream(ctx context.Context, resp *http.Response) *stream {
	return &stream{ctx: ctx, p: p, body: resp.Body, relay: connectors.Relay{SSE: sse.NewReader(resp.Body, 0)}}
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
		if !s.finished {
			return &unified.Error{Kind: unified.KindUpstream,
				Message: "stream from provider " + s.p.name + " ended before the answer was complete"}
		}
		s.relay.Finish()
	case err != nil:
		return connectors.StreamBroken(s.ctx, s.p.name, err)
	case bytes.Equal(ev.Data, doneMarker):
		if !s.finished {
			s.push(unified.Event{Type: unified.EventFinish, Finish: finishReason(nil, len(s.upstreamTools) > 0)})
			s.finished = true
		}
		s.relay.Finish()
	default:
		return s.decodeChunk(ev.Data)
	}
	return nil
}

func (s *stream) push(ev unified.Event) { s.relay.Push(ev) }

func (s *stream) decodeChunk(data []byte) error {
	s.chunk = openaiwire.Chunk{Choices: s.chunk.Choices[:0]}
	c := &s.chunk
	if err := json.Unmarshal(data, c); err != nil {
		return unified.Errorf(unified.KindUpstream, "provider %s sent an unreadable stream event", s.p.name)
	}
	if c.Error != nil {
		return s.p.inBandError(c.Error)
	}
	if !s.started {
		s.started = true
		s.push(unified.Event{Type: unified.EventStart, ID: c.ID, Name: c.Model})
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // only the first choice is streamed
		}
		d := &ch.Delta
		if r := d.Reasoning; r != "" {
			s.push(unified.Event{Type: unified.EventReasoning, Text: r})
		} else if r := d.ReasoningContent; r != "" {
			s.push(unified.Event{Type: unified.EventReasoning, Text: r})
		}
		if d.Content != "" {
			s.push(unified.Event{Type: unified.EventText, Text: d.Content})
		}
		for j := range d.ToolCalls {
			s.toolCallDelta(j, &d.ToolCalls[j])
		}
		if ch.FinishReason != "" && !s.finished {
			if ch.FinishReason == "error" {
				return &unified.Error{Kind: unified.KindUpstream, Message: "provider " + s.p.name + " failed while generating"}
			}
			s.finished = true
			s.push(unified.Event{Type: unified.EventFinish, Finish: finishReason(&ch.FinishReason, len(s.upstreamTools) > 0)})
		}
	}
	if c.Usage != nil {
		s.push(unified.Event{Type: unified.EventUsage, Usage: usage(c.Usage)})
	}
	return nil
}

func (s *stream) toolCallDelta(pos int, tc *openaiwire.ToolCall) {
	up := pos
	if tc.Index != nil {
		up = *tc.Index
	}
	idx := -1
	for i, u := range s.upstreamTools {
		if u == up {
			idx = i
			break
		}
	}
	if idx < 0 {
		idx = len(s.upstreamTools)
		s.upstreamTools = append(s.upstreamTools, up)
		id := tc.ID
		if id == "" {
			id = "call_" + rand.Text()
		}
		s.push(unified.Event{Type: unified.EventToolCallStart, Index: idx, ID: id, Name: tc.Function.Name})
	}
	if tc.Function.Arguments != "" {
		s.push(unified.Event{Type: unified.EventToolCallDelta, Index: idx, Text: tc.Function.Arguments})
	}
}

// Close implements unified.Stream.
func (s *stream) Close() error { return s.body.Close() }
