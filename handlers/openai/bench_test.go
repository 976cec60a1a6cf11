package openai

import (
	"net/http"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/handlers"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// benchRequest is a typical chat request: a system prompt, two turns, a
// tool, sampling options and streaming with usage.
var benchRequest = []byte(`{"model":"gpt-4o-mini","messages":[` +
	`{"role":"system","content":"You are a helpful assistant. Answer briefly and cite your sources."},` +
	`{"role":"user","content":"What is the weather like in Paris today, and should I take an umbrella?"},` +
	`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
	`{"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\":14,\"rain_probability\":0.7}"},` +
	`{"role":"user","content":[{"type":"text","text":"And tomorrow?"}]}],` +
	`"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city",` +
	`"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],` +
	`"tool_choice":"auto","temperature":0.7,"max_tokens":512,"stream":true,"stream_options":{"include_usage":true},"user":"u-42"}`)

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

// BenchmarkStreamWriter writes 100 events (a start, 97 text deltas, a
// finish and usage) as chat.completion.chunk SSE.
func BenchmarkStreamWriter(b *testing.B) {
	evs := make([]unified.Event, 0, 100)
	evs = append(evs, unified.Event{Type: unified.EventStart, ID: "chatcmpl-up", Name: "gpt-4o-mini"})
	for range 97 {
		evs = append(evs, unified.Event{Type: unified.EventText, Text: "lorem "})
	}
	evs = append(evs, unified.Event{Type: unified.EventFinish, Finish: unified.FinishStop},
		unified.Event{Type: unified.EventUsage, Usage: unified.Usage{InputTokens: 12, OutputTokens: 97}})
	req := &unified.Request{IncludeUsage: true}
	w := &discardWriter{h: http.Header{}}
	m := &handlers.Meta{ID: "01HXYZBENCH", Model: "gpt-4o-mini", Created: time.Unix(1733150400, 0), Request: req}
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
	resp := &unified.Response{ID: "up", Model: "gpt-4o-mini", Finish: unified.FinishStop,
		Content: []unified.Part{unified.Text("The weather in Paris is mild with a good chance of rain; take an umbrella.")},
		Usage:   unified.Usage{InputTokens: 120, OutputTokens: 18}}
	w := &discardWriter{h: http.Header{}}
	m := &handlers.Meta{ID: "01HXYZBENCH", Model: "gpt-4o-mini", Created: time.Unix(1733150400, 0)}
	b.ReportAllocs()
	for b.Loop() {
		Dialect{}.WriteResponse(w, resp, m)
	}
}
