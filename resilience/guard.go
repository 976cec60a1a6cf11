package resilience

import (
	"context"
	"errors"
	"io"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Guard enforces the timeouts of one attempt. Its context is the
// attempt's: a timer cancels it, with the timeout as the cause, when the
// first byte, the next event or the end of the attempt is late. Timers
// run no goroutine until they fire, and Stop releases them, so an attempt
// leaves nothing behind. One timer serves the first byte and then each
// next event, so a stream costs one timer whatever its length.
type Guard struct {
	parent   context.Context
	ctx      context.Context
	cancel   context.CancelCauseFunc
	provider string
	limits   Limits

	wait  *time.Timer // the first byte, then each next event
	total *time.Timer
	begun atomic.Bool // an event arrived; read by the timers
	trace httptrace.ClientTrace
}

// NewGuard starts the timeouts of an attempt at provider, a derivative of
// parent. Call Stop when the attempt is over.
func NewGuard(parent context.Context, provider string, limits Limits, stream bool) *Guard {
	g := &Guard{parent: parent, provider: provider, limits: limits}
	g.ctx, g.cancel = context.WithCancelCause(parent)
	if d := limits.FirstByte; d > 0 {
		g.wait = time.AfterFunc(d, g.waitExpired)
		if !stream {
			// A whole answer begins with its response headers.
			g.trace.GotFirstResponseByte = g.gotHeaders
			g.ctx = httptrace.WithClientTrace(g.ctx, &g.trace)
		}
	}
	if d := limits.Total; d > 0 {
		g.total = time.AfterFunc(d, g.totalExpired)
	}
	return g
}

func (g *Guard) waitExpired() {
	if g.begun.Load() {
		g.cancel(g.timeout("sent nothing for", g.limits.StreamIdle, false))
		return
	}
	g.cancel(g.timeout("sent no first byte within", g.limits.FirstByte, true))
}

func (g *Guard) totalExpired() {
	begun := g.begun.Load()
	g.cancel(g.timeout("did not finish within", g.limits.Total, !begun))
}

func (g *Guard) gotHeaders() { g.wait.Stop() }

func (g *Guard) timeout(what string, d time.Duration, retryable bool) *unified.Error {
	return &unified.Error{Kind: unified.KindTimeout, Retryable: retryable,
		Message: "provider " + g.provider + " " + what + " " + d.String()}
}

// Context is the attempt's context.
func (g *Guard) Context() context.Context { return g.ctx }

// Err turns the failure of a call made with the attempt's context into
// the timeout that caused it, if one did; other failures pass unchanged.
func (g *Guard) Err(err error) error {
	if err == nil || g.parent.Err() != nil {
		return err
	}
	var te *unified.Error
	if errors.As(context.Cause(g.ctx), &te) {
		return te
	}
	return err
}

// Stream watches s: the first event stops the first-byte timer and each
// event restarts the idle timer.
func (g *Guard) Stream(s unified.Stream) unified.Stream { return &guardedStream{Stream: s, g: g} }

type guardedStream struct {
	unified.Stream
	g *Guard
}

func (s *guardedStream) Next() (unified.Event, error) {
	ev, err := s.Stream.Next()
	if err != nil {
		if !errors.Is(err, io.EOF) {
			err = s.g.Err(err)
		}
		return ev, err
	}
	s.g.event()
	return ev, nil
}

// Pending implements unified.Pender.
func (s *guardedStream) Pending() bool { return unified.Pending(s.Stream) }

// event notes that an event arrived: the wait for the first byte is over
// and the wait for the next event starts.
func (g *Guard) event() {
	idle := g.limits.StreamIdle
	if !g.begun.Load() {
		g.begun.Store(true)
		if idle <= 0 {
			if g.wait != nil {
				g.wait.Stop()
			}
			return
		}
		if g.wait == nil {
			g.wait = time.AfterFunc(idle, g.waitExpired)
			return
		}
	}
	if idle > 0 {
		g.wait.Reset(idle)
	}
}

// Stop releases the timers and cancels the attempt's context, which
// closes its upstream connection if the connector has not.
func (g *Guard) Stop() {
	if g.wait != nil {
		g.wait.Stop()
	}
	if g.total != nil {
		g.total.Stop()
	}
	g.cancel(context.Canceled)
}
