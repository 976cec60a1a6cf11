package anthropic

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

func benchProvider(b *testing.B) *Anthropic {
	b.Helper()
	p := &Anthropic{}
	if err := p.setup("anthropic", "https://api.anthropic.test"); err != nil {
		b.Fatal(err)
	}
	return p
}

// benchUnified is the unified form of a typical chat request from an
// OpenAI client: translated, not passed through.
func benchUnified() *unified.Request {
	temp, maxTokens := 0.7, 512
	return &unified.Request{
		Model: "claude-sonnet-4-5",
		Messages: []unified.Message{
			{Role: unified.RoleSystem, Content: []unified.Part{unified.Text("You are a helpful assistant. Answer briefly and cite your sources.")}},
			{Role: unified.RoleUser, Content: []unified.Part{unified.Text("What is the weather like in Paris today, and should I take an umbrella?")}},
			{Role: unified.RoleAssistant, ToolCalls: []unified.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
			{Role: unified.RoleTool, ToolCallID: "call_1", Content: []unified.Part{unified.Text(`{"temp_c":14,"rain_probability":0.7}`)}},
			{Role: unified.RoleUser, Content: []unified.Part{unified.Text("And tomorrow?")}},
		},
		Tools: []unified.Tool{{Name: "get_weather", Description: "Current weather for a city",
			Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}},
		ToolChoice:  &unified.ToolChoice{Mode: unified.ToolChoiceAuto},
		Temperature: &temp,
		MaxTokens:   &maxTokens,
		Stream:      true,
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	p := benchProvider(b)
	req := benchUnified()
	b.ReportAllocs()
	for b.Loop() {
		body, err := p.encodeRequest(req, modeStream)
		if err != nil || len(body) == 0 {
			b.Fatal(err)
		}
	}
}

// upstreamStream is a Messages stream of one text block in 97 deltas.
func upstreamStream() []byte {
	var b bytes.Buffer
	b.WriteString("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01Xb7Gq2LmN9pRt4VwZa3Ks8\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":18,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":2,\"service_tier\":\"standard\"}}}\n\n")
	b.WriteString("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
	b.WriteString("event: ping\ndata: {\"type\": \"ping\"}\n\n")
	for range 97 {
		b.WriteString("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lorem \"}}\n\n")
	}
	b.WriteString("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n")
	b.WriteString("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":97}}\n\n")
	b.WriteString("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
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

// BenchmarkTranslateStream is the cross-dialect streaming hot path without
// the network: Messages SSE from the upstream → this connector's stream →
// the OpenAI ingress's stream writer, into a writer that discards.
func BenchmarkTranslateStream(b *testing.B) {
	p := benchProvider(b)
	raw := upstreamStream()
	body := bytes.NewReader(raw)
	w := &discardWriter{h: http.Header{}}
	m := &handlers.Meta{ID: "01HXYZBENCH", Model: "claude-sonnet-4-5", Created: time.Unix(1733150400, 0),
		Request: &unified.Request{IncludeUsage: true}}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	events := 0
	for b.Loop() {
		body.Reset(raw)
		st := p.newStream(ctx, &http.Response{Body: io.NopCloser(body)}, false)
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
	if events < 99 {
		b.Fatalf("translated %d events, want at least the start, 97 texts and the finish", events)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
