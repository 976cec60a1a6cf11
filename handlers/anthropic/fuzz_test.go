package anthropic

import (
	"errors"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// anthropicSeeds are request bodies that reach the decoder's branches:
// system forms, every block type, tools, tool choice and thinking.
var anthropicSeeds = []string{
	`{"model":"claude","max_tokens":100,"messages":[{"role":"user","content":"Hello"}]}`,
	`{"model":"m","max_tokens":5,"stream":true,"system":[{"type":"text","text":"A","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]}]}`,
	`{"model":"m","max_tokens":5,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"sig"},{"type":"redacted_thinking","data":"r"},{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"r"}],"is_error":true}]}],"tools":[{"name":"f","description":"d","input_schema":{"type":"object","properties":{"a":{"type":"integer"}}}},{"type":"web_search_20250305","name":"web_search"}],"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true}}`,
	`{"model":"m","max_tokens":5,"system":"S","stop_sequences":["a"],"temperature":1,"top_p":0.5,"top_k":3,"metadata":{"user_id":"u"},"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"any"}}`,
	`{"model":"m","max_tokens":"5","messages":[]}`,
	`{"model":"m"}`,
	`null`,
}

// FuzzDecodeRequest feeds arbitrary bytes to the Anthropic request
// decoder: it must never panic, and every refusal must be a client error.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range anthropicSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Dialect{}.DecodeRequest(body)
		if err != nil {
			var ue *unified.Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %T is not a *unified.Error: %v", err, err)
			}
			if s := ue.Status(); s < 400 || s >= 500 {
				t.Fatalf("status %d for a bad request: %v", s, ue)
			}
			return
		}
		if req == nil {
			t.Fatal("nil request without an error")
		}
	})
}
