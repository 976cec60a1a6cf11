package anthropic

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

// FuzzStream feeds arbitrary bytes to the Messages stream parser, in both
// translated and native mode: it must never panic, must end, and must
// fail only with a *unified.Error that does not hold the provider key.
func FuzzStream(f *testing.F) {
	for _, name := range fixtures.Names(".sse") {
		if strings.HasPrefix(name, "anthropic_") {
			f.Add(fixtures.Read(f, name), false)
			f.Add(fixtures.Read(f, name), true)
		}
	}
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"key "+secret+"\"}}\n\n"), false)
	f.Add([]byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":99999999,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{\"a\":1}}}\n\n"), false)
	p := provisioned(f, "http://127.0.0.1:1")
	f.Fuzz(func(t *testing.T, body []byte, native bool) {
		s := p.newStream(context.Background(), &http.Response{Body: io.NopCloser(bytes.NewReader(body))}, native)
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
				if strings.Contains(ue.Message, secret) {
					t.Fatalf("error message holds the provider key: %q", ue.Message)
				}
				return
			}
		}
	})
}
