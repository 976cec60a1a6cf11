package gemini

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// FuzzStream feeds arbitrary bytes to the streamGenerateContent parser
// and translator: it must never panic, must end, and must fail only with
// a *unified.Error that does not hold the provider key.
func FuzzStream(f *testing.F) {
	for _, name := range fixtures.Names(".sse") {
		if strings.HasPrefix(name, "gemini_") {
			f.Add(fixtures.Read(f, name))
		}
	}
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"t\",\"thought\":true},{\"text\":\"a\",\"thoughtSignature\":\"c2ln\"}]},\"finishReason\":\"MALFORMED_FUNCTION_CALL\",\"finishMessage\":\"key " + testKey + "\"}]}\n\n"))
	f.Add([]byte("data: {\"candidates\":[]}\n\n{\n  \"error\": {\"code\": 429, \"message\": \"quota " + testKey + "\", \"status\": \"RESOURCE_EXHAUSTED\"}\n}\n"))
	f.Add([]byte("data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":3}}\n\n"))
	e := testEngine(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		s := e.newStream(context.Background(), &http.Response{Body: io.NopCloser(bytes.NewReader(body))})
		defer s.Close()
		for n := 0; ; n++ {
			if n > 4*len(body)+16 {
				t.Fatalf("stream of %d bytes gave more than %d events", len(body), n)
			}
			_, err := s.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var ue *unified.Error
				if !errors.As(err, &ue) {
					t.Fatalf("error %T is not a *unified.Error: %v", err, err)
				}
				if ue.Status() < 400 {
					t.Fatalf("error with status %d: %v", ue.Status(), ue)
				}
				if strings.Contains(ue.Message, testKey) {
					t.Fatalf("error message holds the provider key: %q", ue.Message)
				}
				return
			}
		}
	})
}

// FuzzReduceSchema feeds arbitrary JSON to the tool-schema reducer: it
// must never panic or loop, and what it returns must encode.
func FuzzReduceSchema(f *testing.F) {
	seeds := []string{
		`{"type":"object","properties":{"a":{"type":"string","format":"date-time"},"b":{"type":["integer","null"],"minimum":1}},"required":["a","x"],"additionalProperties":false}`,
		`{"$defs":{"n":{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}},"$ref":"#/$defs/n"}`,
		`{"anyOf":[{"type":"string","enum":["a","b"]},{"const":"c"},{"type":"null"}]}`,
		`{"allOf":[{"type":"object","properties":{"a":{"type":"integer"}}},{"properties":{"b":{"items":{"oneOf":[{"type":"number"},{"type":"boolean"}]}}}}]}`,
		`{"type":"array","items":[{"type":"string"}],"minItems":1,"maxItems":"3","definitions":{"x":{"$ref":"#/definitions/x"}}}`,
		`{"$ref":"#/properties/a/items/0","properties":{"a":{"items":[{"$ref":"#"}]}}}`,
		`true`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := reduceSchema(jsontext.Value(raw))
		if err != nil || s == nil {
			return
		}
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("reduced schema does not encode: %v", err)
		}
	})
}
