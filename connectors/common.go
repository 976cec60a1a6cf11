package connectors

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/xiaojinpro/xjp-gateway/resilience"
	"github.com/xiaojinpro/xjp-gateway/tracing"
)

// Common holds the options every HTTP provider accepts. Connectors embed
// it, call UnmarshalOption from their Caddyfile parser and Setup from
// Provision.
type Common struct {
	// BaseURL of the provider's API, without a trailing slash. Each provider
	// type has a default.
	BaseURL string `json:"base_url,omitempty"`

	// APIKey authenticates the gateway to the provider. Use a runtime
	// placeholder such as {env.OPENROUTER_API_KEY} or {file./run/secrets/key};
	// it is resolved at provision time and never written back to the config.
	APIKey string `json:"api_key,omitempty"`

	// Headers are extra request headers sent on every upstream call (for
	// OpenRouter, HTTP-Referer and X-Title). Values may hold placeholders.
	Headers map[string]string `json:"headers,omitempty"`

	// DialTimeout bounds connecting to the provider. Default: 10s.
	// Timeouts.Dial, when set, takes precedence.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// Timeouts bound each call to the provider: dial, first byte, stream
	// idle and total (see resilience.Timeouts). A model may override all
	// but dial for its routes.
	Timeouts *resilience.Timeouts `json:"timeouts,omitempty"`

	// Breaker is the circuit breaker of each of the provider's routes (one
	// per upstream model). Default: none.
	Breaker *resilience.BreakerConfig `json:"breaker,omitempty"`

	// MaxIdleConns is how many idle connections to the provider are kept
	// for reuse. Default: 512.
	MaxIdleConns int `json:"max_idle_conns,omitempty"`

	apiKey  string
	headers http.Header
	client  *http.Client
}

// UnmarshalOption parses one Common subdirective at d's current token and
// reports whether it was one.
//
//	base_url       <url>
//	api_key        <secret>
//	header         <field> <value>
//	dial_timeout   <duration>
//	max_idle_conns <n>
//	timeouts       { dial; first_byte; stream_idle; total }
//	breaker        { failures; failure_ratio; min_requests; window; cooldown; half_open }
func (c *Common) UnmarshalOption(d *caddyfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "base_url":
		if !d.AllArgs(&c.BaseURL) {
			return true, d.ArgErr()
		}
	case "api_key":
		if !d.AllArgs(&c.APIKey) {
			return true, d.ArgErr()
		}
	case "header":
		var field, value string
		if !d.AllArgs(&field, &value) {
			return true, d.ArgErr()
		}
		if c.Headers == nil {
			c.Headers = make(map[string]string)
		}
		c.Headers[field] = value
	case "dial_timeout":
		var s string
		if !d.AllArgs(&s) {
			return true, d.ArgErr()
		}
		dur, err := caddy.ParseDuration(s)
		if err != nil {
			return true, d.Errf("bad dial_timeout %q: %v", s, err)
		}
		c.DialTimeout = caddy.Duration(dur)
	case "max_idle_conns":
		var s string
		if !d.AllArgs(&s) {
			return true, d.ArgErr()
		}
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil || n < 0 {
			return true, d.Errf("bad max_idle_conns %q", s)
		}
		c.MaxIdleConns = n
	case "timeouts":
		if c.Timeouts != nil {
			return true, d.Err("timeouts already specified")
		}
		t, err := resilience.ParseTimeouts(d, true)
		if err != nil {
			return true, err
		}
		c.Timeouts = t
	case "breaker":
		if c.Breaker != nil {
			return true, d.Err("breaker already specified")
		}
		b, err := resilience.ParseBreaker(d)
		if err != nil {
			return true, err
		}
		c.Breaker = b
	default:
		return false, nil
	}
	return true, nil
}

// Setup resolves placeholders in the secrets and headers, applies the
// default base URL and builds the pooled HTTP client.
func (c *Common) Setup(defaultBaseURL string) error {
	repl := caddy.NewReplacer()
	if c.BaseURL == "" {
		c.BaseURL = defaultBaseURL
	}
	c.BaseURL = strings.TrimRight(repl.ReplaceAll(c.BaseURL, ""), "/")
	if c.BaseURL == "" {
		return fmt.Errorf("base_url is required")
	}
	var err error
	if c.apiKey, err = ResolveSecret(repl, c.APIKey); err != nil {
		return fmt.Errorf("api_key: %w", err)
	}
	c.headers = make(http.Header, len(c.Headers))
	for k, v := range c.Headers {
		c.headers.Set(k, repl.ReplaceAll(v, ""))
	}
	dial := time.Duration(c.DialTimeout)
	if t := c.Timeouts.DialTimeout(); t > 0 {
		dial = t
	}
	c.client = NewHTTPClient(dial, c.MaxIdleConns)
	return nil
}

// Key is the resolved API key.
func (c *Common) Key() string { return c.apiKey }

// Client is the provider's pooled HTTP client.
func (c *Common) Client() *http.Client { return c.client }

// ExtraHeaders are the resolved extra headers.
func (c *Common) ExtraHeaders() http.Header { return c.headers }

// Cleanup closes the idle upstream connections.
func (c *Common) Cleanup() error {
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// ResolveSecret replaces runtime placeholders ({env.X}, {file./path}) in s
// and refuses a value that still holds one, which means a variable or file
// is missing.
func ResolveSecret(repl *caddy.Replacer, s string) (string, error) {
	if s == "" {
		return "", nil
	}
	v := strings.TrimSpace(repl.ReplaceAll(s, ""))
	if v == "" {
		return "", fmt.Errorf("resolves to an empty value")
	}
	if strings.ContainsAny(v, "{}") {
		return "", fmt.Errorf("holds an unresolved placeholder")
	}
	return v, nil
}

// NewHTTPClient returns a client with a connection pool sized for a busy
// gateway: keep-alive, HTTP/2 where the provider offers it, no response
// compression (SSE must not sit in a gzip buffer) and no overall timeout,
// because streams last as long as the model writes.
func NewHTTPClient(dialTimeout time.Duration, maxIdle int) *http.Client {
	if dialTimeout <= 0 {
		dialTimeout = 10 * time.Second
	}
	if maxIdle <= 0 {
		maxIdle = 512
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		// tracing.Transport adds the W3C trace context when the gateway's
		// tracing propagate option asks for it.
		Transport: tracing.Transport(&http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          maxIdle,
			MaxIdleConnsPerHost:   maxIdle,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   dialTimeout,
			ExpectContinueTimeout: time.Second,
			DisableCompression:    true,
		}),
		// Redirects would resend the API key to wherever they point.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
