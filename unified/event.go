package unified

import (
	"errors"
	"io"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// EventType is the kind of a stream event.
type EventType uint8

const (
	// EventStart opens a response: ID and Name (the model) when the
	// upstream gave them, and Usage when it reported input tokens early.
	EventStart EventType = iota + 1
	// EventText carries a fragment of answer text in Text.
	EventText
	// EventReasoning carries a fragment of visible reasoning in Text.
	EventReasoning
	// EventReasoningSignature carries (a fragment of) the provider's
	// signature of the reasoning so far in Text.
	EventReasoningSignature
	// EventToolCallStart opens tool call Index (0, 1, … per response) with
	// its ID and Name, and the call's Signature when the provider gave one.
	EventToolCallStart
	// EventToolCallDelta carries a fragment of the JSON arguments of tool
	// call Index in Text. Concatenated, the fragments form the arguments.
	EventToolCallDelta
	// EventUsage reports cumulative usage; later reports win field by field.
	EventUsage
	// EventFinish says why generation stopped, in Finish. It comes once,
	// after all content; usage may still follow.
	EventFinish
	// EventNative carries one upstream event verbatim for a Native request
	// (see Request.Native): Name is the event's name in the upstream's
	// stream and Native its data. It comes before the events derived from
	// it. Only the ingress of the request's own dialect writes it; every
	// other consumer ignores it. Native is valid until the next call to
	// Next.
	EventNative
)

// Event is one step of a streamed response. It is a plain value so that a
// stream costs no allocation per event beyond its text.
type Event struct {
	Type      EventType
	Index     int
	ID        string
	Name      string
	Text      string
	Signature string
	Finish    FinishReason
	Usage     Usage
	Native    jsontext.Value
}

// Stream yields the events of one upstream response.
//
// Next returns io.EOF after the last event of a complete response and an
// error (usually *Error) when the response broke off. Close releases the
// upstream connection; it is safe to call more than once and after any
// Next. A stream is used by one goroutine.
type Stream interface {
	Next() (Event, error)
	Close() error
}

// Pender is a Stream that knows when Next has an event ready, without
// waiting on the network: a writer relaying a burst of events then leaves
// its output unflushed until the burst is over.
type Pender interface {
	Pending() bool
}

// Pending reports whether s has an event ready; false when s cannot tell.
func Pending(s Stream) bool {
	p, ok := s.(Pender)
	return ok && p.Pending()
}

// Collect reads s to the end and assembles the whole response.
func Collect(s Stream) (*Response, error) {
	defer s.Close()
	var (
		resp      Response
		text      strings.Builder
		reasoning strings.Builder
		args      [][]byte // per tool call; a strings.Builder may not be copied as the slice grows
	)
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch ev.Type {
		case EventStart:
			if ev.ID != "" {
				resp.ID = ev.ID
			}
			if ev.Name != "" {
				resp.Model = ev.Name
			}
			resp.Usage.Merge(ev.Usage)
		case EventText:
			text.WriteString(ev.Text)
		case EventReasoning:
			reasoning.WriteString(ev.Text)
		case EventReasoningSignature:
			resp.ReasoningSignature += ev.Text
		case EventToolCallStart:
			if ev.Index != len(resp.ToolCalls) {
				return nil, Errorf(KindUpstream, "upstream opened tool call %d out of order", ev.Index)
			}
			resp.ToolCalls = append(resp.ToolCalls, ToolCall{ID: ev.ID, Name: ev.Name, Signature: ev.Signature})
			args = append(args, nil)
		case EventToolCallDelta:
			if ev.Index < 0 || ev.Index >= len(args) {
				return nil, Errorf(KindUpstream, "upstream sent arguments for unknown tool call %d", ev.Index)
			}
			args[ev.Index] = append(args[ev.Index], ev.Text...)
		case EventUsage:
			resp.Usage.Merge(ev.Usage)
		case EventFinish:
			resp.Finish = ev.Finish
		}
	}
	if text.Len() > 0 {
		resp.Content = []Part{Text(text.String())}
	}
	resp.Reasoning = reasoning.String()
	for i := range resp.ToolCalls {
		resp.ToolCalls[i].Arguments = string(args[i])
		if resp.ToolCalls[i].Arguments == "" {
			resp.ToolCalls[i].Arguments = "{}"
		}
	}
	return &resp, nil
}

// SliceStream replays a fixed list of events; connectors that compute a
// whole answer at once (and tests) stream through it.
type SliceStream struct {
	Events []Event
	Err    error // returned after the events instead of io.EOF, if set
	i      int
}

// Next implements Stream.
func (s *SliceStream) Next() (Event, error) {
	if s.i < len(s.Events) {
		s.i++
		return s.Events[s.i-1], nil
	}
	if s.Err != nil {
		return Event{}, s.Err
	}
	return Event{}, io.EOF
}

// Close implements Stream.
func (s *SliceStream) Close() error { return nil }

// Events turns a whole response into the events a stream of it would
// carry, so a non-streaming upstream can serve a streaming client.
func (r *Response) Events() []Event {
	evs := make([]Event, 0, 3+len(r.ToolCalls)*2)
	evs = append(evs, Event{Type: EventStart, ID: r.ID, Name: r.Model})
	if r.Reasoning != "" {
		evs = append(evs, Event{Type: EventReasoning, Text: r.Reasoning})
	}
	if r.ReasoningSignature != "" {
		evs = append(evs, Event{Type: EventReasoningSignature, Text: r.ReasoningSignature})
	}
	if t := r.Text(); t != "" {
		evs = append(evs, Event{Type: EventText, Text: t})
	}
	for i, tc := range r.ToolCalls {
		evs = append(evs,
			Event{Type: EventToolCallStart, Index: i, ID: tc.ID, Name: tc.Name, Signature: tc.Signature},
			Event{Type: EventToolCallDelta, Index: i, Text: tc.Arguments})
	}
	evs = append(evs,
		Event{Type: EventFinish, Finish: r.Finish},
		Event{Type: EventUsage, Usage: r.Usage})
	return evs
}
