package xjpgateway

// The provider types and key stores that ship with the gateway register
// themselves as Caddy modules when imported.
import (
	_ "github.com/xiaojinpro/xjp-gateway/auth/postgres"
	_ "github.com/xiaojinpro/xjp-gateway/cli"
	_ "github.com/xiaojinpro/xjp-gateway/connectors/anthropic"
	_ "github.com/xiaojinpro/xjp-gateway/connectors/echo"
	_ "github.com/xiaojinpro/xjp-gateway/connectors/gemini"
	_ "github.com/xiaojinpro/xjp-gateway/connectors/openai"
)
