package xjpgateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/handlers"
	anthropicin "github.com/xiaojinpro/xjp-gateway/handlers/anthropic"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/routing"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// flushCounter records an answer, its flushes, and how many bytes were
// written since the last flush.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushes, unflushed int
}

func (f *flushCounter) Write(p []byte) (int, error) {
	f.unflushed += len(p)
	return f.ResponseRecorder.Write(p)
}

func (f *flushCounter) Flush() { f.flushes, f.unflushed = f.flushes+1, 0 }

// burstConnector streams events that arrive in bursts: the events of a
// burst are all there at once; between bursts the stream would wait on
// the network, and by then every byte written must have been flushed.
type burstConnector struct {
	t      *testing.T
	out    *flushCounter
	bursts [][]unified.Event
	pender bool
}

func (b *burstConnector) Capabilities() connectors.Capabilities { return connectors.Capabilities{} }
func (b *burstConnector) Generate(context.Context, *unified.Request) (*unified.Response, error) {
	panic("not used")
}

func (b *burstConnector) Stream(context.Context, *unified.Request) (unified.Stream, error) {
	s := &burstStream{b: b, bursts: b.bursts}
	if b.pender {
		return &penderStream{s}, nil
	}
	return s, nil
}

type burstStream struct {
	b      *burstConnector
	bursts [][]unified.Event
	begun  bool
}

func (s *burstStream) Next() (unified.Event, error) {
	if len(s.bursts) > 0 && len(s.bursts[0]) == 0 {
		s.bursts = s.bursts[1:] // the next burst: a wait on the network
		if s.b.out.unflushed > 0 {
			s.b.t.Errorf("waiting on the upstream with %d bytes unflushed", s.b.out.unflushed)
		}
	}
	if len(s.bursts) == 0 {
		return unified.Event{}, io.EOF
	}
	ev := s.bursts[0][0]
	s.bursts[0] = s.bursts[0][1:]
	return ev, nil
}

func (s *burstStream) Close() error { return nil }

type penderStream struct{ *burstStream }

func (p *penderStream) Pending() bool { return len(p.bursts) > 0 && len(p.bursts[0]) > 0 }

func TestStreamFlushesOncePerBurst(t *testing.T) {
	text := func(s string) unified.Event { return unified.Event{Type: unified.EventText, Text: s} }
	bursts := func() [][]unified.Event {
		return [][]unified.Event{
			{{Type: unified.EventStart, ID: "up"}, text("a"), text("b"), text("c")},
			{text("d"), text("e")},
			{{Type: unified.EventFinish, Finish: unified.FinishStop}, {Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 1, OutputTokens: 5}}},
		}
	}
	for _, d := range []handlers.Dialect{openaiin.Dialect{}, anthropicin.Dialect{}} {
		for _, pender := range []bool{true, false} {
			out := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
			conn := &burstConnector{t: t, out: out, bursts: bursts(), pender: pender}
			m := &routing.Model{Name: "m", Primary: []routing.Route{{Provider: "p", Connector: conn, Model: "up"}}}
			g := testGateway(nil, &fakeAccounts{})
			g.StreamKeepAlive = -1
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			c := &call{id: "req-1", start: time.Now(), dialect: d, ctx: r.Context(), repl: caddy.NewReplacer(),
				key: &auth.Key{ID: "k", Tenant: "t"}, accounted: true, model: m,
				req: &unified.Request{Model: "m", Stream: true, IncludeUsage: true,
					Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("hi")}}}}}
			g.execute(out, r, c)

			body := out.Body.String()
			if !strings.Contains(body, "e") || out.unflushed != 0 {
				t.Fatalf("%s pender=%v: %d bytes never flushed of\n%s", d.Name(), pender, out.unflushed, body)
			}
			// The headers, one flush per burst that wrote something, the end.
			if pender && out.flushes > 5 {
				t.Errorf("%s: %d flushes for 3 bursts", d.Name(), out.flushes)
			}
			if !pender && out.flushes < 7 {
				t.Errorf("%s: %d flushes without Pending: want one per event", d.Name(), out.flushes)
			}
		}
	}
}
