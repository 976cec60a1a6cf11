package sse

import (
	"bytes"
	"io"
	"testing"
)

// openAIChunks is a 100-event Chat Completions stream as OpenAI sends it.
func openAIChunks(n int) []byte {
	var b bytes.Buffer
	prefix := `data: {"id":"chatcmpl-AbC9xKq2TnR8c1vLw0aZb7YdE4f","object":"chat.completion.chunk","created":1733150400,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0aa8d3e20b","choices":[`
	b.WriteString(prefix + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for range n - 2 {
		b.WriteString(prefix + `{"index":0,"delta":{"content":"lorem "},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	}
	b.WriteString(prefix + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

func BenchmarkReader(b *testing.B) {
	stream := openAIChunks(100)
	r := bytes.NewReader(stream)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		r.Reset(stream)
		rd := NewReader(r, 0)
		n := 0
		for {
			_, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 101 {
			b.Fatalf("read %d events, want 101", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*101), "ns/event")
}
