package xjpgateway

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/metrics"
	"github.com/xiaojinpro/xjp-gateway/ratelimit"
	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/routing"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// call is one gateway request on its way through the pipeline:
// authenticate → read and decode → resolve the model → execute a route →
// record. Every concern that wraps a request reads and writes this state.
type call struct {
	id      string
	start   time.Time
	dialect handlers.Dialect
	repl    *caddy.Replacer

	key   *auth.Key
	body  []byte // the request body as the client sent it; released by executeOnce
	req   *unified.Request
	model *routing.Model

	route     routing.Route // the route that served, or the last one tried
	attempts  int           // upstream calls made
	fallback  bool          // route is not the first the plan named
	published bool          // the route's placeholders show it
	// recorded: the request is over; charged and elapsed are fixed then,
	// so that the usage row, the metrics, the span, the access log and
	// the placeholders all show the same numbers.
	recorded bool
	charged  unified.Usage
	elapsed  time.Duration
	// upstreamWait is the time spent waiting on providers (calls and
	// stream reads); the rest of the request's time is the gateway's own.
	upstreamWait time.Duration
	usage        unified.Usage
	err          *unified.Error // the failure the client saw, if any

	// Accounting (accounting.go): the client's context, the key's rate-limit
	// state, whether a usage row is due, when the first token arrived, how
	// many bytes of answer were produced and whether the upstream stream
	// was read to its end.
	ctx           context.Context
	rate          *ratelimit.Decision
	accounted     bool
	ttft          time.Duration
	produced      int
	upstreamEnded bool
	reservation   *reservation // tokens charged at admission, reconciled at the end (cluster.go)

	obs observation // metrics, trace and access log (observe.go)
}

func (c *call) meta() *handlers.Meta {
	return &handlers.Meta{ID: c.id, Model: c.req.Model, Created: c.start, Request: c.req}
}

// serveChat runs the pipeline for one chat request in dialect d.
func (g *Gateway) serveChat(w http.ResponseWriter, r *http.Request, d handlers.Dialect) {
	c := newCall(w, r, d)
	r = g.observeStart(r, c)
	defer g.record(c)
	if err := g.admitWithHeaders(w, r, c); err != nil {
		g.fail(w, c, err)
		return
	}
	g.executeOnce(w, r, c)
}

// newCall starts the state of one request and names it.
func newCall(w http.ResponseWriter, r *http.Request, d handlers.Dialect) *call {
	c := &call{id: rand.Text(), start: time.Now(), dialect: d, ctx: r.Context()}
	c.repl, _ = r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	w.Header().Set("X-Request-Id", c.id)
	if c.repl != nil {
		c.repl.Map(c.placeholder)
	}
	return c
}

// admitWithHeaders admits the request and sets the key's rate-limit
// headers, whether or not it was admitted. Every admitted call must be
// recorded (g.record), which ends its accounting.
func (g *Gateway) admitWithHeaders(w http.ResponseWriter, r *http.Request, c *call) *unified.Error {
	err := g.admit(r, c)
	g.setLimitHeaders(w, c, err)
	if err != nil {
		g.observeRejection(c, err)
	}
	return err
}

// admit authenticates the caller, decodes the request and resolves the
// model the key may use.
func (g *Gateway) admit(r *http.Request, c *call) *unified.Error {
	key, err := g.authenticate(r)
	if err != nil {
		return err
	}
	c.key = key
	if c.repl != nil {
		c.repl.Set("http.auth.user.id", key.ID)
	}
	if err := g.enforceLimits(r, c); err != nil {
		return err
	}

	body, err := readBody(r, g.Limits.MaxBody)
	if err != nil {
		return err
	}
	req, derr := c.dialect.DecodeRequest(body)
	if derr != nil {
		return unified.AsError(derr)
	}
	c.body, c.req = body, req

	m := g.routes.Lookup(req.Model)
	if m == nil {
		return &unified.Error{Kind: unified.KindNotFound, Param: "model", Code: "model_not_found",
			Message: "the model " + strconv.Quote(req.Model) + " does not exist"}
	}
	if !key.AllowsModel(m.Name) && !key.AllowsModel(req.Model) {
		return &unified.Error{Kind: unified.KindPermission, Param: "model", Code: "model_not_allowed",
			Message: "this API key may not use the model " + strconv.Quote(req.Model)}
	}
	c.model = m
	if err := g.validate(c); err != nil {
		return err
	}
	return g.admitTokens(r, c)
}

func (g *Gateway) authenticate(r *http.Request) (*auth.Key, *unified.Error) {
	secret := auth.KeyFromRequest(r)
	if secret == "" {
		return nil, &unified.Error{Kind: unified.KindAuthentication,
			Message: "missing API key: send it as Authorization: Bearer <key> or x-api-key"}
	}
	key, err := g.keys.Authenticate(r.Context(), secret)
	switch {
	case err == nil:
		return key, nil
	case errors.Is(err, auth.ErrUnknownKey):
		return nil, &unified.Error{Kind: unified.KindAuthentication, Message: "invalid API key"}
	default:
		g.keyStoreErrors.Error(g.logger, "key store failed", zap.Error(err))
		return nil, &unified.Error{Kind: unified.KindUnavailable,
			Message: "the gateway cannot check API keys right now; try again shortly"}
	}
}

// readBody reads the request body up to limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, *unified.Error) {
	tooLarge := func() *unified.Error {
		return unified.Errorf(unified.KindRequestTooLarge, "the request body exceeds the limit of %d bytes", limit)
	}
	if r.ContentLength > limit {
		return nil, tooLarge()
	}
	size := r.ContentLength
	if size < 0 {
		size = 4096
	}
	buf := make([]byte, 0, size+1) // +1 so a body of exactly the announced size needs no growth to see EOF
	body, err := readAll(http.MaxBytesReader(nil, r.Body, limit), buf)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		return nil, unified.Errorf(unified.KindInvalidRequest, "reading the request body failed")
	}
	return body, nil
}

// readAll is io.ReadAll into a caller-sized buffer.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// execute serves the request from the model's routes (routing.Execute:
// load balancing, retries, breakers, fallbacks). An attempt may fail over
// only while nothing has been written to the client.
func (g *Gateway) execute(w http.ResponseWriter, r *http.Request, c *call) {
	err := c.model.Execute(r.Context(), func(ctx context.Context, a routing.Attempt) (bool, error) {
		return g.attempt(ctx, w, c, a)
	})
	if err != nil {
		c.publishRoute()
		g.fail(w, c, err)
	}
}

// upstreamRequest is req as route's provider gets it: its upstream model,
// and the client's extensions only for a provider of the client's dialect.
func upstreamRequest(req *unified.Request, route routing.Route) unified.Request {
	up := *req
	up.Model = route.Model
	if up.ExtensionsDialect != route.Connector.Capabilities().Dialect {
		up.Extensions = nil
	}
	return up
}

// attempt calls one route once, under the route's timeouts.
func (g *Gateway) attempt(ctx context.Context, w http.ResponseWriter, c *call, a routing.Attempt) (committed bool, err error) {
	c.route, c.fallback = *a.Route, a.Fallback
	c.attempts++
	ctx, endSpan := g.startAttemptSpan(ctx, c, a)
	defer func() { endSpan(err); c.observeAttempt(a.Try, err) }()
	up := upstreamRequest(c.req, c.route)
	guard := resilience.NewGuard(ctx, c.route.Provider, c.route.Timeouts, c.req.Stream)
	defer guard.Stop()
	if c.req.Stream {
		committed, err = g.stream(w, c, guard, &up)
	} else {
		err = g.generate(w, c, guard, &up)
		committed = err == nil
	}
	if err != nil && !committed {
		g.logAttemptFailure(c, unified.AsError(err))
	}
	return committed, err
}

func (g *Gateway) generate(w http.ResponseWriter, c *call, guard *resilience.Guard, up *unified.Request) error {
	t0 := time.Now()
	resp, err := c.route.Connector.Generate(guard.Context(), up)
	c.upstreamWait += time.Since(t0)
	if err != nil {
		return guard.Err(err)
	}
	c.usage = resp.Usage
	c.noteResponse(resp.Model, resp.Finish)
	g.setRouteHeaders(w, c)
	c.dialect.WriteResponse(w, resp, c.meta())
	return nil
}

// stream relays a streamed answer. It waits for the first event before
// committing the response, so that a route failing before its first token
// can still be replaced by the next one. Once committed, a failure ends
// the stream with the dialect's error event and is returned for the
// route's breaker.
func (g *Gateway) stream(w http.ResponseWriter, c *call, guard *resilience.Guard, up *unified.Request) (committed bool, err error) {
	t0 := time.Now()
	st, err := c.route.Connector.Stream(guard.Context(), up)
	if err != nil {
		c.upstreamWait += time.Since(t0)
		return false, guard.Err(err)
	}
	defer st.Close()
	st = meter(c, guard.Stream(st))
	ev, err := st.Next()
	c.upstreamWait += time.Since(t0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}

	g.setRouteHeaders(w, c)
	gate := newFlushGate(w)
	sw, stopKeepAlive := handlers.KeepAlive(c.dialect.NewStream(gate, c.meta()), time.Duration(g.StreamKeepAlive))
	defer stopKeepAlive()
	metrics.StreamStarted()
	defer metrics.StreamEnded()
	for err == nil {
		if ev.Type == unified.EventStart || ev.Type == unified.EventUsage {
			c.usage.Merge(ev.Usage)
		}
		c.noteEvent(&ev)
		gate.hold.Store(true)
		if werr := sw.Event(ev); werr != nil {
			return true, nil // the client is gone; closing the stream cancels the upstream call
		}
		// Only now may the stream read ahead: ev's bytes may be its buffer.
		gate.hold.Store(false)
		if !unified.Pending(st) {
			_ = gate.FlushError() // the next event is not here yet: send this one
		}
		t0 = time.Now()
		ev, err = st.Next()
		c.upstreamWait += time.Since(t0)
	}
	if errors.Is(err, io.EOF) {
		_ = sw.End()
		return true, nil
	}
	c.err = unified.AsError(err)
	g.logAttemptFailure(c, c.err)
	_ = sw.Fail(c.err)
	return true, c.err
}

// setRouteHeaders says which route serves the answer and how long the
// gateway and the provider took until now (for streams: until the first
// event), in a Server-Timing header browsers and tools display.
func (g *Gateway) setRouteHeaders(w http.ResponseWriter, c *call) {
	c.publishRoute() // now, for header lines that read them as the response starts
	h := w.Header()
	h.Set("X-Xjp-Provider", c.route.Provider)
	h.Set("X-Xjp-Upstream-Model", c.route.Model)
	setServerTiming(h, c)
}

// fail answers with an error in the caller's dialect.
func (g *Gateway) fail(w http.ResponseWriter, c *call, err *unified.Error) {
	c.err = err
	setServerTiming(w.Header(), c)
	c.dialect.WriteError(w, err)
}

func (g *Gateway) logAttemptFailure(c *call, e *unified.Error) {
	if ce := g.logger.Check(zapcore.WarnLevel, "upstream attempt failed"); ce != nil {
		ce.Write(
			zap.String("request_id", c.id),
			zap.String("provider", c.route.Provider),
			zap.String("upstream_model", c.route.Model),
			zap.Int("attempt", c.attempts),
			zap.Int("status", e.Status()),
			zap.Int("upstream_status", e.UpstreamStatus),
			zap.String("error", e.Message),
		)
	}
}

// end fixes the request's outcome at its end, at.
func (c *call) end(at time.Time) {
	c.charged, c.elapsed, c.recorded = c.chargedUsage(), at.Sub(c.start), true
}

// record ends the call: its placeholders show its outcome from now on,
// and its usage is accounted.
func (g *Gateway) record(c *call) {
	c.publishRoute()
	c.end(time.Now())
	g.account(c)
	g.observeEnd(c)
}
