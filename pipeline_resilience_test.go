package xjpgateway

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/routing"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// stallingConnector streams its events, then says nothing more until the
// attempt's context ends, and fails as real connectors do: with the
// context's error. It counts its calls.
type stallingConnector struct {
	events []unified.Event
	calls  int
}

func (s *stallingConnector) Capabilities() connectors.Capabilities { return connectors.Capabilities{} }

func (s *stallingConnector) Generate(ctx context.Context, _ *unified.Request) (*unified.Response, error) {
	s.calls++
	return nil, waitCut(ctx)
}

// waitCut waits for ctx to end, as a hung upstream call does, and fails
// the wait after a while rather than hanging the test.
func waitCut(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return errors.New("no timeout cut the call")
	}
}

func (s *stallingConnector) Stream(ctx context.Context, _ *unified.Request) (unified.Stream, error) {
	s.calls++
	return &stallingStream{ctx: ctx, events: s.events}, nil
}

type stallingStream struct {
	ctx    context.Context
	events []unified.Event
}

func (s *stallingStream) Next() (unified.Event, error) {
	if len(s.events) > 0 {
		ev := s.events[0]
		s.events = s.events[1:]
		return ev, nil
	}
	return unified.Event{}, waitCut(s.ctx)
}

func (s *stallingStream) Close() error { return nil }

// runCall serves one request for model m through execute and record, as
// serveChat does after admission.
func runCall(t *testing.T, d handlers.Dialect, m *routing.Model, stream bool) (*httptest.ResponseRecorder, *call, *fakeAccounts) {
	t.Helper()
	acc := &fakeAccounts{}
	g := testGateway(nil, acc)
	g.StreamKeepAlive = -1
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	c := &call{id: "req-1", start: time.Now(), dialect: d, ctx: r.Context(), repl: caddy.NewReplacer(),
		key: &auth.Key{ID: "k", Tenant: "t"}, accounted: true, model: m,
		req: &unified.Request{Model: m.Name, Stream: stream,
			Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("hello")}}}}}
	c.repl.Map(c.placeholder)
	w := httptest.NewRecorder()
	g.execute(w, r, c)
	g.record(c)
	if len(acc.records) != 1 {
		t.Fatalf("%d usage records", len(acc.records))
	}
	return w, c, acc
}

func placeholder(c *call, name string) string {
	v, _ := c.repl.GetString(phPrefix + name)
	return v
}

// TestStreamCutByIdleTimeoutIsAccounted: a stream that goes silent after
// it began ends with the dialect's error event, is not retried, and the
// text it produced is charged.
func TestStreamCutByIdleTimeoutIsAccounted(t *testing.T) {
	text := strings.Repeat("word ", 20)
	for _, d := range []handlers.Dialect{openaiin.Dialect{}, anthropicin.Dialect{}} {
		t.Run(d.Name(), func(t *testing.T) {
			conn := &stallingConnector{events: []unified.Event{{Type: unified.EventStart, ID: "up-1"}, {Type: unified.EventText, Text: text}}}
			retry := resilience.DefaultRetry
			retry.Attempts = 3
			m := &routing.Model{Name: "m", Retry: retry, Primary: []routing.Route{{Provider: "silent", Connector: conn, Model: "up",
				Timeouts: resilience.Limits{FirstByte: time.Hour, StreamIdle: time.Millisecond}}}}
			w, c, acc := runCall(t, d, m, true)

			body := w.Body.String()
			if w.Code != 200 || !strings.Contains(body, "word word") || !strings.Contains(body, "provider silent sent nothing for 1ms") {
				t.Fatalf("status %d, body:\n%s", w.Code, body)
			}
			if conn.calls != 1 {
				t.Errorf("a stream that had begun was retried: %d calls", conn.calls)
			}
			rec := acc.records[0]
			if rec.Status != 504 || rec.CompletionTokens != len(text)/4 || rec.PromptTokens == 0 || rec.Attempts != 1 {
				t.Errorf("usage record %+v", rec)
			}
			if placeholder(c, phAttempts) != "1" || placeholder(c, phFallback) != "false" {
				t.Errorf("attempts %q fallback %q", placeholder(c, phAttempts), placeholder(c, phFallback))
			}
			// The placeholders show what the usage row charges.
			if got := placeholder(c, phOutputTokens); got != fmt.Sprint(rec.CompletionTokens) {
				t.Errorf("output_tokens placeholder %q, usage row %d", got, rec.CompletionTokens)
			}
		})
	}
}

// TestFirstByteTimeoutFailsOver: a route that does not begin its answer
// in time is cut and the next one serves; the placeholders and headers say
// so.
func TestFirstByteTimeoutFailsOver(t *testing.T) {
	for _, stream := range []bool{false, true} {
		hung := &stallingConnector{}
		good := &stallingConnector{events: []unified.Event{
			{Type: unified.EventStart}, {Type: unified.EventText, Text: "hi"}, {Type: unified.EventFinish, Finish: unified.FinishStop}}}
		m := &routing.Model{Name: "m", Primary: []routing.Route{
			{Provider: "hung", Connector: hung, Model: "a", Timeouts: resilience.Limits{FirstByte: time.Millisecond}},
		}, Fallbacks: []routing.Route{
			{Provider: "good", Connector: &endingConnector{good}, Model: "b", Timeouts: resilience.DefaultLimits},
		}}
		w, c, acc := runCall(t, openaiin.Dialect{}, m, stream)
		if w.Code != 200 || w.Header().Get("X-Xjp-Provider") != "good" || !strings.Contains(w.Body.String(), "hi") {
			t.Errorf("stream %v: %d %v %s", stream, w.Code, w.Header(), w.Body.String())
		}
		if placeholder(c, phAttempts) != "2" || placeholder(c, phFallback) != "true" || placeholder(c, phProvider) != "good" {
			t.Errorf("stream %v: attempts %q fallback %q provider %q", stream,
				placeholder(c, phAttempts), placeholder(c, phFallback), placeholder(c, phProvider))
		}
		if rec := acc.records[0]; rec.Status != 200 || rec.Provider != "good" || rec.Attempts != 2 {
			t.Errorf("stream %v: usage record %+v", stream, rec)
		}
	}
}

// TestFirstByteTimeoutAnswers504: with no route left, the timeout is the
// answer, in the caller's dialect.
func TestFirstByteTimeoutAnswers504(t *testing.T) {
	for _, d := range []handlers.Dialect{openaiin.Dialect{}, anthropicin.Dialect{}} {
		for _, stream := range []bool{false, true} {
			m := &routing.Model{Name: "m", Primary: []routing.Route{{Provider: "hung", Connector: &stallingConnector{},
				Model: "a", Timeouts: resilience.Limits{FirstByte: time.Millisecond}}}}
			w, _, acc := runCall(t, d, m, stream)
			want := `"type":"timeout_error"` // Anthropic
			if d.Name() == "openai" {
				want = `"code":"timeout"`
			}
			if w.Code != 504 || !strings.Contains(w.Body.String(), want) ||
				!strings.Contains(w.Body.String(), "provider hung sent no first byte within 1ms") {
				t.Errorf("%s stream %v: %d %s", d.Name(), stream, w.Code, w.Body.String())
			}
			if acc.records[0].Status != 504 {
				t.Errorf("%s stream %v: recorded status %d", d.Name(), stream, acc.records[0].Status)
			}
		}
	}
}

// endingConnector serves its events as a complete answer.
type endingConnector struct{ s *stallingConnector }

func (e *endingConnector) Capabilities() connectors.Capabilities { return connectors.Capabilities{} }

func (e *endingConnector) Generate(context.Context, *unified.Request) (*unified.Response, error) {
	e.s.calls++
	return unified.Collect(&unified.SliceStream{Events: e.s.events})
}

func (e *endingConnector) Stream(context.Context, *unified.Request) (unified.Stream, error) {
	e.s.calls++
	return &unified.SliceStream{Events: e.s.events}, nil
}
