// Package xjpgateway is XJP Gateway: an LLM API gateway that runs inside
// Caddy as the HTTP handler http.handlers.xjp_gateway.
//
// A request enters in ServeHTTP (this file), is decoded by its dialect
// (handlers/), runs through the pipeline (pipeline.go) and leaves through a
// connector (connectors/).
package xjpgateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/xiaojinpro/xjp-gateway/internal/logthrottle"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/handlers"
	anthropicin "github.com/xiaojinpro/xjp-gateway/handlers/anthropic"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/ratelimit"
	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/routing"
	"github.com/xiaojinpro/xjp-gateway/unified"
	"github.com/xiaojinpro/xjp-gateway/usage"
)

func init() { caddy.RegisterModule(Gateway{}) }

// Gateway serves the OpenAI Chat Completions API (POST
// /v1/chat/completions, GET /v1/models) and the Anthropic Messages API
// (POST /v1/messages, POST /v1/messages/count_tokens, and GET /v1/models
// in Anthropic's shape for requests with an anthropic-version header) in
// front of the configured providers. Requests for other paths go to the
// next handler.
//
// Placeholders set by this handler, for header, log_append and the like:
//
// Placeholder | Description
// ------------|------------
// `{http.xjp_gateway.request_id}` | The gateway's id for the request (also the X-Request-Id response header)
// `{http.xjp_gateway.dialect}` | Client dialect: openai or anthropic
// `{http.xjp_gateway.model}` | Model name the client asked for
// `{http.xjp_gateway.tenant}` | Tenant of the API key
// `{http.xjp_gateway.key_id}` | Id of the API key (never the key itself)
// `{http.xjp_gateway.provider}` | Provider that served the request
// `{http.xjp_gateway.upstream_model}` | Model name sent to the provider
// `{http.xjp_gateway.attempts}` | Upstream calls made for the request, retries and fallbacks included
// `{http.xjp_gateway.fallback}` | true when a route other than the first planned one served (or last failed)
// `{http.xjp_gateway.input_tokens}` | Prompt tokens, as the provider counted them
// `{http.xjp_gateway.output_tokens}` | Completion tokens, as the provider counted them
// `{http.xjp_gateway.cached_tokens}` | Prompt tokens read from the provider's prompt cache
// `{http.xjp_gateway.ttft_ms}` | Streams: milliseconds from arrival to the first token
// `{http.xjp_gateway.upstream_ms}` | Milliseconds spent waiting on providers (calls and stream reads)
// `{http.xjp_gateway.gateway_ms}` | Milliseconds of the gateway's own work: the request's time minus upstream_ms
//
// Tokens and timings are known once the answer is complete, after its
// headers have gone: use them in log_append (the access log is written
// last). The Server-Timing response header carries the gateway's and the
// upstream's time until the answer started.
//
// The key id also fills Caddy's {http.auth.user.id}, so access logs show
// it as user_id.
type Gateway struct {
	// Providers are the upstreams, keyed by a name of your choosing. Each is
	// a provider module whose "type" field selects the connector: echo,
	// openai, openrouter, … (module namespace http.xjp_gateway.providers).
	Providers map[string]json.RawMessage `json:"providers,omitempty" caddy:"namespace=http.xjp_gateway.providers inline_key=type"`

	// Models are the public model names clients may ask for, and the
	// routes that serve each.
	Models map[string]*ModelConfig `json:"models,omitempty"`

	// Auth is the key store that authenticates clients; its "store" field
	// selects the module (namespace http.xjp_gateway.key_stores), e.g.
	// {"store":"static","keys":[...]}. Required.
	Auth json.RawMessage `json:"auth,omitempty" caddy:"namespace=http.xjp_gateway.key_stores inline_key=store"`

	// Limits bound what a request may ask for.
	Limits *Limits `json:"limits,omitempty"`

	// StreamKeepAlive is how long a streamed answer may stay silent before
	// the gateway writes a keep-alive the client ignores (Anthropic's ping
	// event; an SSE comment for OpenAI clients), so that proxies and
	// clients do not drop a stream while the model thinks. Default: 15s; a
	// negative value turns keep-alives off.
	StreamKeepAlive caddy.Duration `json:"stream_keepalive,omitempty"`
	// RateLimit limits the requests per minute of each API key.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// Idempotency replays the answer of a request retried with the same
	// idempotency key. On by default, with the memory store.
	Idempotency *Idempotency `json:"idempotency,omitempty"`

	// Retry says when a failed call is repeated on the same route before
	// the model's next route is tried; a model's own retry overrides it
	// field by field. Default: each route is called once.
	Retry *resilience.Retry `json:"retry,omitempty"`

	// HealthPath, when set, is a path (e.g. /healthz) where the gateway
	// answers readiness probes: GET gives 200 when it can serve and 503
	// when its key store's database is not usable, or, in cluster mode
	// with on_failure closed, when its Redis is down (each checked at most
	// once a second, with a one-second timeout). Default: no readiness
	// endpoint.
	HealthPath string `json:"health_path,omitempty"`

	// Metrics tunes the xjp_* Prometheus series.
	Metrics *Metrics `json:"metrics,omitempty"`
	// Tracing tunes the gateway's OpenTelemetry spans, made when Caddy's
	// tracing handler runs before the gateway.
	Tracing *Tracing `json:"tracing,omitempty"`

	providers map[string]connectors.Connector
	keys      auth.Store
	routes    *routing.Table
	created   int64 // reported as the creation time of every model
	logger    *zap.Logger
	// keyStoreErrors throttles the "key store failed" log line.
	keyStoreErrors *logthrottle.Throttle
	// quotaReadErrors throttles "reading a key's token count failed".
	quotaReadErrors *logthrottle.Throttle
	// exiting is cancelled when the process exits (shutdown.go).
	exiting context.Context
	exitNow context.CancelFunc

	// limiters are the process's per-key rate limiters; accounts is the
	// key store's usage ledger, when it keeps one (postgres).
	limiters        *ratelimit.Registry
	releaseLimiters func() error
	accounts        usage.Accountant
	cluster         *clusterLimits // the shared rate-limit store (cluster.go); nil without one
	clusterProbe    *probe         // the readiness probe's last look at the cluster's Redis (health.go)

	idem *idempotent // nil when idempotency keys are off
	// releaseBreakers give back the routes' circuit breakers, which
	// outlive this config.
	releaseBreakers []func() error
}

// ModelConfig is one public model.
type ModelConfig struct {
	// Aliases are further names clients may use for this model.
	Aliases []string `json:"aliases,omitempty"`
	// Primary is the route that serves the model, or several routes that
	// share its traffic by weight (an object for one route, an array for
	// several). Each request tries the primary the load balancer picks,
	// then the others in order, then the fallbacks.
	Primary RouteList `json:"primary,omitempty"`
	// Fallbacks are tried in order when the primary routes fail before
	// the answer has started.
	Fallbacks []RouteConfig `json:"fallbacks,omitempty"`
	// Retry overrides the gateway's retry settings for this model's
	// routes, field by field.
	Retry *resilience.Retry `json:"retry,omitempty"`
	// Timeouts override the providers' first_byte, stream_idle and total
	// timeouts for this model's routes, field by field.
	Timeouts *resilience.Timeouts `json:"timeouts,omitempty"`
}

// RouteConfig names a provider and the model to ask it for.
type RouteConfig struct {
	// Provider is a key of the gateway's providers.
	Provider string `json:"provider"`
	// Model is the upstream model name. Default: the public model name.
	Model string `json:"model,omitempty"`
	// Weight is a primary route's share of the model's traffic, relative
	// to the other primaries' weights. Default: 1.
	Weight int `json:"weight,omitempty"`
}

// Limits bound requests. A request over a limit gets 400 naming the
// field (413 for the body), before any upstream call.
type Limits struct {
	// MaxBody is the largest request body accepted, in bytes; larger ones
	// get 413. Default: 10 MiB.
	MaxBody int64 `json:"max_body,omitempty"`
	// MaxMessages is the most messages a request may hold (Anthropic's
	// system prompt is not counted). Default: 100; -1 for no limit.
	MaxMessages int `json:"max_messages,omitempty"`
	// MaxOutputTokens is the most output tokens a request may ask for
	// (max_tokens, max_completion_tokens). Default: no limit beyond the
	// model's own; -1 also means no limit.
	MaxOutputTokens int `json:"max_output_tokens,omitempty"`
	// MaxTools is the most tools a request may declare. Default: 128
	// (OpenAI's own limit); -1 for no limit.
	MaxTools int `json:"max_tools,omitempty"`
}

const (
	defaultMaxBody         = 10 << 20
	defaultMaxMessages     = 100
	defaultMaxTools        = 128
	defaultStreamKeepAlive = 15 * time.Second
)

// CaddyModule returns the Caddy module information.
func (Gateway) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.xjp_gateway",
		New: func() caddy.Module { return new(Gateway) },
	}
}

// Provision loads the providers and the key store and builds the model
// table. It does no network I/O.
func (g *Gateway) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	g.keyStoreErrors = &logthrottle.Throttle{Every: keyStoreLogInterval}
	g.quotaReadErrors = &logthrottle.Throttle{Every: keyStoreLogInterval}
	g.provisionExit(ctx)
	g.created = time.Now().Unix()
	if err := g.provisionObservability(ctx); err != nil {
		return err
	}

	g.providers = make(map[string]connectors.Connector, len(g.Providers))
	if g.Providers != nil {
		mods, err := ctx.LoadModule(g, "Providers")
		if err != nil {
			return fmt.Errorf("loading providers: %w", err)
		}
		for name, m := range mods.(map[string]any) {
			conn, ok := m.(connectors.Connector)
			if !ok {
				return fmt.Errorf("provider %q: module %T is not a connector", name, m)
			}
			if n, ok := conn.(connectors.Named); ok {
				n.SetName(name)
			}
			g.providers[name] = conn
		}
	}

	if g.Auth == nil {
		return fmt.Errorf("no key store: add a keys block (or auth <store>) so that clients can authenticate")
	}
	mod, err := ctx.LoadModule(g, "Auth")
	if err != nil {
		return fmt.Errorf("loading key store: %w", err)
	}
	store, ok := mod.(auth.Store)
	if !ok {
		return fmt.Errorf("key store module %T does not authenticate keys", mod)
	}
	g.keys = store
	if err := g.provisionAccounting(ctx); err != nil {
		return err
	}

	if err := g.provisionIdempotency(); err != nil {
		return err
	}
	if err := g.buildRoutes(); err != nil {
		return err
	}
	if g.Limits == nil {
		g.Limits = new(Limits)
	}
	if g.Limits.MaxBody <= 0 {
		g.Limits.MaxBody = defaultMaxBody
	}
	if g.Limits.MaxMessages == 0 {
		g.Limits.MaxMessages = defaultMaxMessages
	}
	if g.Limits.MaxTools == 0 {
		g.Limits.MaxTools = defaultMaxTools
	}
	if g.StreamKeepAlive == 0 {
		g.StreamKeepAlive = caddy.Duration(defaultStreamKeepAlive)
	}
	return nil
}

// Validate reports configuration mistakes found after provisioning.
func (g *Gateway) Validate() error {
	if len(g.routes.Models()) == 0 {
		g.logger.Warn("no models configured: every chat request will get 404")
	}
	return nil
}

// Cleanup releases the state shared across reloads.
func (g *Gateway) Cleanup() error {
	return errors.Join(g.releaseAccounting(), g.releaseIdempotency(), g.releaseRoutes())
}

// ServeHTTP answers the gateway's endpoints and hands every other path to
// the next handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if g.HealthPath != "" && r.URL.Path == g.HealthPath {
		g.serveHealth(w, r)
		return nil
	}
	r, done := g.untilExit(r)
	defer done()
	switch r.URL.Path {
	case "/v1/chat/completions":
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, openaiin.Dialect{}, http.MethodPost)
		}
		g.serveChat(w, r, openaiin.Dialect{})
	case "/v1/messages":
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, anthropicin.Dialect{}, http.MethodPost)
		}
		g.serveChat(w, r, anthropicDialect(r, false))
	case "/v1/messages/count_tokens":
		if r.Method != http.MethodPost {
			return methodNotAllowed(w, anthropicin.Dialect{}, http.MethodPost)
		}
		g.serveCountTokens(w, r)
	case "/v1/models":
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, modelsDialect(isAnthropicClient(r)), http.MethodGet)
		}
		g.serveModels(w, r, isAnthropicClient(r))
	default:
		id, ok := strings.CutPrefix(r.URL.Path, "/v1/models/")
		if !ok || id == "" {
			return next.ServeHTTP(w, r)
		}
		if r.Method != http.MethodGet {
			return methodNotAllowed(w, modelsDialect(isAnthropicClient(r)), http.MethodGet)
		}
		g.serveModel(w, r, id, isAnthropicClient(r))
	}
	return nil
}

func methodNotAllowed(w http.ResponseWriter, d handlers.Dialect, allow string) error {
	w.Header().Set("Allow", allow)
	d.WriteError(w, unified.Errorf(unified.KindMethodNotAllowed, "this endpoint only accepts %s", allow))
	return nil
}

// keyStoreLogInterval is how often a failing key, quota or idempotency
// store is logged.
const keyStoreLogInterval = 10 * time.Second

// Interface guards
var (
	_ caddy.Provisioner           = (*Gateway)(nil)
	_ caddy.Validator             = (*Gateway)(nil)
	_ caddy.CleanerUpper          = (*Gateway)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gateway)(nil)
	_ caddyfile.Unmarshaler       = (*Gateway)(nil)
)
