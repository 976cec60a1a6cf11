// Command xjp-caddy is Caddy with the standard modules plus XJP Gateway, so
// the gateway runs with `go run ./cmd/xjp-caddy run --config Caddyfile.example`
// without xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/xiaojinpro/xjp-gateway"
)

func main() {
	caddycmd.Main()
}
