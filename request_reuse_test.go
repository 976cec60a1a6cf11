package xjpgateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/connectors/anthropic"
	"github.com/xiaojinpro/xjp-gateway/connectors/echo"
	"github.com/xiaojinpro/xjp-gateway/connectors/gemini"
	"github.com/xiaojinpro/xjp-gateway/connectors/openai"
	"github.com/xiaojinpro/xjp-gateway/handlers"
	anthropicin "github.com/xiaojinpro/xjp-gateway/handlers/anthropic"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// TestConnectorsDoNotMutateTheRequest: a request is decoded once and sent
// to every route a retry or fallback tries, so no connector may change
// it. Each connector encodes rich requests of both dialects several times
// (the upstream refuses, as a failing route would); the request must stay
// equal to a second decoding of the same body.
func TestConnectorsDoNotMutateTheRequest(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}`))
	}))
	defer srv.Close()

	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	provision := func(p interface{ Provision(caddy.Context) error }) connectors.Connector {
		if err := p.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		return p.(connectors.Connector)
	}
	common := connectors.Common{BaseURL: srv.URL, APIKey: "k"}
	conns := map[string]connectors.Connector{
		"openrouter": provision(&openai.OpenRouter{OpenAI: openai.OpenAI{Common: common}}),
		"openai":     provision(&openai.OpenAI{Common: common}),
		"anthropic":  provision(&anthropic.Anthropic{Common: common}),
		"gemini":     provision(&gemini.Gemini{Common: common}),
		"echo":       &echo.Echo{},
	}

	bodies := []struct {
		dialect handlers.Dialect
		body    string
	}{
		{openaiin.Dialect{}, `{"model":"m","stream":true,"stream_options":{"include_usage":true},"temperature":0.3,"stop":["END"],
			"messages":[{"role":"system","content":"Be brief."},
				{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
				{"role":"assistant","content":"Checking.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"look","arguments":"{\"what\":\"image\"}"}}]},
				{"role":"tool","tool_call_id":"call_1","content":"a cat"},
				{"role":"user","content":"and?"}],
			"tools":[{"type":"function","function":{"name":"look","description":"Looks","parameters":{"type":"object","properties":{"what":{"type":"string"}},"required":["what"]}}}],
			"tool_choice":"auto","seed":7,"logit_bias":{"50256":-100}}`},
		{anthropicin.Dialect{}, `{"model":"m","max_tokens":64,"stream":true,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
			"thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"u1"},
			"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},
				{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"text","text":"Checking."},
					{"type":"tool_use","id":"toolu_1","name":"look","input":{"what":"image"}}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a cat"}]},{"type":"text","text":"and?"}]}],
			"tools":[{"name":"look","description":"Looks","input_schema":{"type":"object","properties":{"what":{"type":"string"}},"required":["what"]}}],
			"tool_choice":{"type":"auto"}}`},
	}
	for _, b := range bodies {
		for name, conn := range conns {
			t.Run(b.dialect.Name()+" to "+name, func(t *testing.T) {
				req, err := b.dialect.DecodeRequest([]byte(b.body))
				if err != nil {
					t.Fatal(err)
				}
				pristine, _ := b.dialect.DecodeRequest([]byte(b.body))
				before := sent.Load()
				for range 2 {
					for _, stream := range []bool{false, true} {
						// What the pipeline does for each attempt.
						up := *req
						up.Model, up.Stream = "upstream-model", stream
						if up.ExtensionsDialect != conn.Capabilities().Dialect {
							up.Extensions = nil
						}
						if stream {
							if s, err := conn.Stream(context.Background(), &up); err == nil {
								_, _ = unified.Collect(s)
							}
						} else {
							_, _ = conn.Generate(context.Background(), &up)
						}
					}
				}
				if name != "echo" && sent.Load()-before != 4 {
					t.Errorf("%d of 4 calls reached the upstream: the request was refused before it was encoded", sent.Load()-before)
				}
				if !reflect.DeepEqual(req, pristine) {
					t.Errorf("the connector changed the request:\n%+v\nwas\n%+v", req, pristine)
				}
			})
		}
	}
}
