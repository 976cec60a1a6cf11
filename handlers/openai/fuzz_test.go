package openai

import (
	"errors"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// openAISeeds are request bodies that reach the decoder's branches: every
// content part type, tools, tool choice forms, response formats.
var openAISeeds = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"s"},{"role":"developer","content":[{"type":"text","text":"d"}]},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}},{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]}]}`,
	`{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"a":{"type":"integer"}}},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required","max_tokens":10,"max_completion_tokens":5,"temperature":0.5,"top_p":1,"n":2,"stop":["a","b"],"seed":1,"user":"u","response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}},"reasoning_effort":"high","logprobs":true,"top_logprobs":2,"extra":{"x":1}}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"stop":"s","temperature":"hot"}`,
	`{"model":1}`,
	`[]`,
	`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`,
}

// FuzzDecodeRequest feeds arbitrary bytes to the OpenAI request decoder:
// it must never panic, and every refusal must be a client error (4xx).
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range openAISeeds {
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
