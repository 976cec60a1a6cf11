package openai

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// FuzzStream feeds arbitrary bytes to the chat.completion.chunk stream
// parser as an upstream body: it must never panic, must end, and must
// fail only with a *unified.Error that does not hold the provider key.
func FuzzStream(f *testing.F) {
	for _, name := range fixtures.Names(".sse") {
		if strings.HasPrefix(name, "openai_") || strings.HasPrefix(name, "openrouter_") || strings.HasPrefix(name, "clewdr_oai") {
			f.Add(fixtures.Read(f, name))
		}
	}
	f.Add([]byte("data: {\"error\":{\"message\":\"bad key " + testKey + "\"}}\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":7,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]}}]}\n\ndata: [DONE]\n\n"))
	p := newOpenAI(f, "http://127.0.0.1:1", nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		s := p.newStream(context.Background(), &http.Response{Body: io.NopCloser(bytes.NewReader(body))})
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
				checkStreamError(t, err, testKey)
				return
			}
		}
	})
}

func checkStreamError(t *testing.T, err error, key string) {
	t.Helper()
	var ue *unified.Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %T is not a *unified.Error: %v", err, err)
	}
	if ue.Status() < 400 {
		t.Fatalf("error with status %d: %v", ue.Status(), ue)
	}
	if strings.Contains(ue.Message, key) {
		t.Fatalf("error message holds the provider key: %q", ue.Message)
	}
}
