package xjpgateway

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

// Caddy's grace period bounds how long the server waits for requests when
// the process exits, but it does not end them: a stream longer than the
// grace period would keep the process alive, and the usage ledger, which
// waits for every accounted request before its last flush, with it. So when
// the config is unloaded because the process exits (after the grace
// period), the gateway cancels what is still running: upstream calls stop,
// streams end, each request records its usage row, and the ledger flushes.
// A reload unloads the old config too, but its requests run on.

// provisionExit arms the cancellation of in-flight requests at exit.
func (g *Gateway) provisionExit(ctx caddy.Context) {
	g.exiting, g.exitNow = context.WithCancel(context.Background())
	// Not ctx.OnCancel: Provision's ctx is a copy, whose cleanup list
	// Caddy never sees. The config's context ends when it is unloaded.
	context.AfterFunc(ctx, func() {
		if caddy.Exiting() {
			g.exitNow()
		}
	})
}

// untilExit returns r with a context that is also cancelled when the
// process exits; done releases it.
func (g *Gateway) untilExit(r *http.Request) (*http.Request, func()) {
	if g.exiting == nil { // not provisioned (tests)
		return r, func() {}
	}
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(g.exiting, cancel)
	return r.WithContext(ctx), func() {
		stop()
		cancel()
	}
}
