package resilience

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// ctxStream yields events, then blocks until its context ends and fails
// as a connector does: with the context's error. A context that never
// ends fails the test after a while rather than hanging it.
type ctxStream struct {
	ctx    context.Context
	events int
	closed bool
}

func (s *ctxStream) Next() (unified.Event, error) {
	if s.events > 0 {
		s.events--
		return unified.Event{Type: unified.EventText, Text: "x"}, nil
	}
	select {
	case <-s.ctx.Done():
		return unified.Event{}, s.ctx.Err()
	case <-time.After(10 * time.Second):
		return unified.Event{}, errors.New("no timeout cut the stream")
	}
}

func (s *ctxStream) Close() error { s.closed = true; return nil }

func drain(s unified.Stream) (events int, err error) {
	for {
		if _, err = s.Next(); err != nil {
			return events, err
		}
		events++
	}
}

func TestGuardFirstByte(t *testing.T) {
	g := NewGuard(context.Background(), "slow", Limits{FirstByte: time.Millisecond, StreamIdle: time.Hour}, true)
	defer g.Stop()
	n, err := drain(g.Stream(&ctxStream{ctx: g.Context()}))
	var e *unified.Error
	if n != 0 || !errors.As(err, &e) || e.Kind != unified.KindTimeout || !e.Retryable ||
		e.Message != "provider slow sent no first byte within 1ms" {
		t.Fatalf("events %d, err %#v", n, err)
	}
}

func TestGuardStreamIdle(t *testing.T) {
	for _, firstByte := range []time.Duration{time.Hour, 0} {
		g := NewGuard(context.Background(), "silent", Limits{FirstByte: firstByte, StreamIdle: time.Millisecond}, true)
		n, err := drain(g.Stream(&ctxStream{ctx: g.Context(), events: 3}))
		g.Stop()
		var e *unified.Error
		if n != 3 || !errors.As(err, &e) || e.Kind != unified.KindTimeout || e.Retryable ||
			e.Message != "provider silent sent nothing for 1ms" {
			t.Errorf("first byte %v: events %d, err %#v", firstByte, n, err)
		}
	}
}

// TestGuardWithoutIdleTimeout: with stream_idle off, a stream may pause as
// long as it likes once it began (the total timeout ends it here).
func TestGuardWithoutIdleTimeout(t *testing.T) {
	for _, limits := range []Limits{
		{FirstByte: time.Hour, Total: 50 * time.Millisecond},
		{Total: 50 * time.Millisecond},
	} {
		g := NewGuard(context.Background(), "p", limits, true)
		n, err := drain(g.Stream(&ctxStream{ctx: g.Context(), events: 3}))
		g.Stop()
		var e *unified.Error
		if n != 3 || !errors.As(err, &e) || !strings.Contains(e.Message, "did not finish within") {
			t.Errorf("%+v: %d events, err %v", limits, n, err)
		}
	}
}

func TestGuardTotal(t *testing.T) {
	for _, begun := range []int{0, 2} {
		g := NewGuard(context.Background(), "long", Limits{Total: time.Millisecond}, true)
		n, err := drain(g.Stream(&ctxStream{ctx: g.Context(), events: begun}))
		g.Stop()
		var e *unified.Error
		if n != begun || !errors.As(err, &e) || e.Kind != unified.KindTimeout || e.Retryable != (begun == 0) ||
			!strings.Contains(e.Message, "did not finish within 1ms") {
			t.Errorf("after %d events: got %d, err %#v", begun, n, err)
		}
	}
}

func TestGuardLeavesOtherFailuresAlone(t *testing.T) {
	// The client leaves: its cancellation passes through, not as a timeout.
	parent, cancel := context.WithCancel(context.Background())
	g := NewGuard(parent, "p", Limits{FirstByte: time.Hour}, true)
	defer g.Stop()
	cancel()
	if _, err := drain(g.Stream(&ctxStream{ctx: g.Context()})); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}

	// A provider failure and the end of a stream pass unchanged.
	g2 := NewGuard(context.Background(), "p", DefaultLimits, true)
	defer g2.Stop()
	boom := &unified.Error{Kind: unified.KindUpstream, Message: "boom"}
	s := g2.Stream(&unified.SliceStream{Events: []unified.Event{{Type: unified.EventText}}, Err: boom})
	if _, err := drain(s); err != boom {
		t.Errorf("err = %v", err)
	}
	if _, err := drain(g2.Stream(&unified.SliceStream{})); !errors.Is(err, io.EOF) {
		t.Errorf("err = %v", err)
	}
	if g2.Err(nil) != nil {
		t.Error("Err(nil) is not nil")
	}
}

func TestGuardStopCancelsTheAttempt(t *testing.T) {
	g := NewGuard(context.Background(), "p", Limits{FirstByte: time.Hour, StreamIdle: time.Hour, Total: time.Hour}, true)
	g.Stop()
	select {
	case <-g.Context().Done():
	default:
		t.Fatal("Stop left the attempt's context running")
	}
	if _, err := drain(g.Stream(&ctxStream{ctx: g.Context()})); !errors.Is(err, context.Canceled) {
		t.Errorf("a stopped attempt failed with %v, not as cancelled", err)
	}
}

// TestGuardFirstByteOfAWholeAnswer: for a non-streamed call the response
// headers are the first byte; a body that is slow after them is bounded
// by total only.
func TestGuardFirstByteOfAWholeAnswer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "done")
	}))
	defer srv.Close()
	defer close(release)

	g := NewGuard(context.Background(), "p", Limits{FirstByte: time.Hour}, false)
	defer g.Stop()
	req, _ := http.NewRequestWithContext(g.Context(), http.MethodGet, srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The headers arrived before Do returned: the first-byte timer is
	// disarmed (Stop reports whether it was still armed).
	if g.wait.Stop() {
		t.Fatal("the first-byte timer is still armed after the headers arrived")
	}
}
