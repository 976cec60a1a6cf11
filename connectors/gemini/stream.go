package gemini

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/go-json-experiment/json"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/connectors/sse"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// stream reads a :streamGenerateContent?alt=sse answer: data: events each
// holding a GenerateContentResponse with only the new parts, no event
// names and no [DONE]; the body ends after the chunk with finishReason.
type stream struct {
	ctx  context.Context
	e    *engine
	body io.ReadCloser
	sse  *sse.Reader
	t    translator

	queue []unified.Event
	next  int
	done  bool
}

func (e *engine) newStream(ctx context.Context, resp *http.Response) *stream {
	r := sse.NewReader(resp.Body, 0)
	r.AcceptBareJSON()
	s := &stream{ctx: ctx, e: e, body: resp.Body, sse: r, queue: make([]unified.Event, 0, 4)}
	s.t.e = e
	return s
}

func (s *stream) push(ev unified.Event) { s.queue = append(s.queue, ev) }

// Next implements unified.Stream.
func (s *stream) Next() (unified.Event, error) {
	for {
		if s.next < len(s.queue) {
			s.next++
			return s.queue[s.next-1], nil
		}
		s.queue, s.next = s.queue[:0], 0
		if s.done {
			return unified.Event{}, io.EOF
		}
		ev, err := s.sse.Next()
		switch {
		case errors.Is(err, io.EOF):
			if err := s.t.end(s.push, false); err != nil {
				return unified.Event{}, err
			}
			s.done = true
		case err != nil:
			return unified.Event{}, connectors.StreamBroken(s.ctx, s.e.name, err)
		default:
			var chunk generateResponse
			if err := json.Unmarshal(ev.Data, &chunk); err != nil {
				return unified.Event{}, unified.Errorf(unified.KindUpstream, "provider %s sent an unreadable stream event", s.e.name)
			}
			if err := s.t.chunk(&chunk, s.push); err != nil {
				return unified.Event{}, err
			}
		}
	}
}

// Close implements unified.Stream.
func (s *stream) Close() error { return s.body.Close() }
