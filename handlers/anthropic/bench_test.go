package anthropic

import (
	"net/http"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// benchRequest is a typical Messages request: a system prompt, a tool
// round trip, sampling options and streaming.
var benchRequest = []byte(`{"model":"claude-sonnet-4-5","max_tokens":512,"stream":true,` +
	`"system":"You are a helpful assistant. Answer briefly and cite your sources.",` +
	`"messages":[` +
	`{"role":"user","content":"What is the weather like in Paris today, and should I take an umbrella?"},` +
	`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}]},` +
	`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":"{\"temp_c\":14,\"rain_probability\":0.7}"},{"type":"text","text":"And tomorrow?"}]}],` +
	`"tools":[{"name":"get_weather","description":"Current weather for a city",` +
	`"input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],` +
	`"tool_choice":{"type":"auto"},"temperature":0.7,"metadata":{"user_id":"u-42"}}`)

func BenchmarkDecodeRequest(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRequest)))
	for b.Loop() {
		req, err := Dialect{}.DecodeRequest(benchRequest)
		if err != nil || len(req.Messages) != 5 {
			b.Fatalf("decode: %v", err)
		}
	}
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

// BenchmarkStreamWriter writes 100 unified events (a start, 97 text
// deltas, a finish and usage) as Messages SSE.
func BenchmarkStreamWriter(b *testing.B) {
	evs := make([]unified.Event, 0, 100)
	evs = append(evs, unified.Event{Type: unified.EventStart, ID: "msg_up", Name: "claude-sonnet-4-5"})
	for range 97 {
		evs = append(evs, unified.Event{Type: unified.EventText, Text: "lorem "})
	}
	evs = append(evs, unified.Event{Type: unified.EventFinish, Finish: unified.FinishStop},
		unified.Event{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 12, OutputTokens: 97}})
	w := &discardWriter{h: http.Header{}}
	m := &handlers.Meta{ID: "01HXYZBENCH", Model: "claude-sonnet-4-5", Created: time.Unix(1733150400, 0), Request: &unified.Request{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		sw := Dialect{}.NewStream(w, m)
		for _, ev := range evs {
			if err := sw.Event(ev); err != nil {
				b.Fatal(err)
			}
		}
		if err := sw.End(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

func BenchmarkWriteResponse(b *testing.B) {
	resp := &unified.Response{ID: "up", Model: "claude-sonnet-4-5", Finish: unified.FinishStop,
		Content: []unified.Part{unified.Text("The weather in Paris is mild with a good chance of rain; take an umbrella.")},
		Usage:   unified.Usage{InputTokens: 120, OutputTokens: 18}}
	w := &discardWriter{h: http.Header{}}
	m := &handlers.Meta{ID: "01HXYZBENCH", Model: "claude-sonnet-4-5", Created: time.Unix(1733150400, 0), Request: &unified.Request{}}
	b.ReportAllocs()
	for b.Loop() {
		Dialect{}.WriteResponse(w, resp, m)
	}
}
