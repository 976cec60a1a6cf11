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
	t    translator

	relay connectors.Relay
}

func (e *engine) newStream(ctx context.Context, resp *http.Response) *stream {
	r := sse.NewReader(resp.Body, 0)
	r.AcceptBareJSON()
	s := &stream{ctx: ctx, e: e, body: resp.Body, relay: connectors.Relay{SSE: r}}
	s.t.e = e
	return s
}

func (s *stream) push(ev unified.Event) { s.relay.Push(ev) }

// Next implements unified.Stream.
func (s *stream) Next() (unified.Event, error) { return s.relay.Next(s) }

// Pending implements unified.Pender.
func (s *stream) Pending() bool { return s.relay.Pending(s) }

// Step implements connectors.Stepper.
func (s *stream) Step() error {
	ev, err := s.relay.SSE.Next()
	switch {
	case errors.Is(err, io.EOF):
		if err := s.t.end(s.push, false); err != nil {
			return err
		}
		s.relay.Finish()
	case err != nil:
		return connectors.StreamBroken(s.ctx, s.e.name, err)
	default:
		var chunk generateResponse
		if err := json.Unmarshal(ev.Data, &chunk); err != nil {
			return unified.Errorf(unified.KindUpstream, "provider %s sent an unreadable stream event", s.e.name)
		}
		return s.t.chunk(&chunk, s.push)
	}
	return nil
}

// Close implements unified.Stream.
func (s *stream) Close() error { return s.body.Close() }
