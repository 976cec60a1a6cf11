package sse

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
)

// FuzzReader reads arbitrary bytes as an event stream, with and without
// bare JSON blocks and with a small event limit: it must never panic,
// must end, and must never hand out an event over the limit.
func FuzzReader(f *testing.F) {
	for _, name := range fixtures.Names(".sse") {
		f.Add(fixtures.Read(f, name), false)
	}
	f.Add([]byte("data: a\r\ndata: b\r\rdata:c\n:comment\nevent: e\n\n{\n\"error\": 1\n}\n"), true)
	f.Add([]byte("data: "+string(bytes.Repeat([]byte("x"), 300))+"\n\n"), false)
	const limit = 256
	f.Fuzz(func(t *testing.T, body []byte, bare bool) {
		r := NewReader(bytes.NewReader(body), limit)
		if bare {
			r.AcceptBareJSON()
		}
		for n := 0; ; n++ {
			if n > len(body)+1 {
				t.Fatalf("%d bytes gave more than %d events", len(body), n)
			}
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrEventTooLarge) {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if len(ev.Data) > limit {
				t.Fatalf("event of %d bytes over the limit %d", len(ev.Data), limit)
			}
		}
	})
}
