package openai

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

func benchProvider(b *testing.B) *OpenAI {
	b.Helper()
	p := &OpenAI{}
	p.BaseURL = "http://127.0.0.1:1/v1"
	if err := p.setup("openai", "https://api.openai.com/v1", false); err != nil {
		b.Fatal(err)
	}
	return p
}

// benchUnified is the unified form of a typical chat request.
func benchUnified() *unified.Request {
	temp, maxTokens := 0.7, 512
	return &unified.Request{
		Model: "gpt-4o-mini",
		Messages: []unified.Message{
			{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("You are a helpful assistant. Answer briefly and cite your sources.")}},
			{Role: unified.RoleUser, Content: []unified.Part{unified.Text("What is the weather like in Paris today, and should I take an umbrella?")}},
			{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
			{Role: unified.RoleTool, ToolCallID: "call_1", Content: []unified.Part{unified.Text(`{"temp_c":14,"rain_probability":0.7}`)}},
			{Role: unified.RoleUser, Content: []unified.Part{unified.Text("And tomorrow?")}},
		},
		Tools: []unified.Tool{{Name: "get_weather", Description: "Current weather for a city",
			Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}},
		ToolChoice:   &unified.ToolChoice{Mode: unified.ToolChoiceAuto},
		Temperature:  &temp,
		MaxTokens:    &maxTokens,
		Stream:       true,
		IncludeUsage: true,
		User:         "u-42",
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	p := benchProvider(b)
	req := benchUnified()
	b.ReportAllocs()
	for b.Loop() {
		body, err := p.encodeRequest(req, true)
		if err != nil || len(body) == 0 {
			b.Fatal(err)
		}
	}
}

// upstreamStream is an OpenAI stream of 100 events: the role chunk, 97
// content chunks, the finish chunk and the usage chunk, then [DONE].
func upstreamStream() []byte {
	var b bytes.Buffer
	prefix := `data: {"id":"chatcmpl-AbC9xKq2TnR8c1vLw0aZb7YdE4f","object":"chat.completion.chunk","created":1733150400,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0aa8d3e20b","choices":[`
	b.WriteString(prefix + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	for range 97 {
		b.WriteString(prefix + `{"index":0,"delta":{"content":"lorem "},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	}
	b.WriteString(prefix + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	b.WriteString(prefix + `],"usage":{"prompt_tokens":12,"completion_tokens":97,"total_tokens":109,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// discardWriter is an http.ResponseWriter that keeps nothing.
type discardWriter struct {
	h http.Header
	n int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardWriter) Flush()                      {}

// BenchmarkTranslateStream is the streaming hot path without the network:
// upstream SSE bytes → this connector's stream → the OpenAI ingress's
// stream writer, into a writer that discards.
func BenchmarkTranslateStream(b *testing.B) {
	p := benchProvider(b)
	raw := upstreamStream()
	body := bytes.NewReader(raw)
	w := &discardWriter{h: http.Header{}}
	m := &handlers.Meta{ID: "01HXYZBENCH", Model: "gpt-4o-mini", Created: time.Unix(1733150400, 0),
		Request: &unified.Request{IncludeUsage: true}}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	events := 0
	for b.Loop() {
		body.Reset(raw)
		st := p.newStream(ctx, &http.Response{Body: io.NopCloser(body)})
		clear(w.h)
		sw := openaiin.Dialect{}.NewStream(w, m)
		events = 0
		for {
			ev, err := st.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
			if err := sw.Event(ev); err != nil {
				b.Fatal(err)
			}
		}
		if err := sw.End(); err != nil {
			b.Fatal(err)
		}
		_ = st.Close()
	}
	// start, 97 texts, finish, usage
	if events != 100 {
		b.Fatalf("translated %d events, want 100", events)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}

func BenchmarkDecodeResponse(b *testing.B) {
	p := benchProvider(b)
	raw := []byte(`{"id":"chatcmpl-AbC","object":"chat.completion","created":1733150400,"model":"gpt-4o-mini-2024-07-18",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"The weather in Paris is mild with a good chance of rain; take an umbrella.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":120,"completion_tokens":18,"total_tokens":138,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},` +
		`"service_tier":"default","system_fingerprint":"fp_0aa8d3e20b"}`)
	body := bytes.NewReader(raw)
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(raw)
		resp, err := p.decodeResponse(context.Background(), &http.Response{Body: io.NopCloser(body)})
		if err != nil || resp.Usage.InputTokens != 120 {
			b.Fatal(err)
		}
	}
}
