// Package mock is a fast OpenAI-compatible upstream for load tests. Every
// answer is built once at start-up, so the mock spends its time in the
// network stack, not in JSON: a non-streamed chat.completion, or a stream
// of a role chunk, Chunks content chunks (one every Delay), a finish chunk,
// the usage chunk when the request asks for it, and data: [DONE]. Usage is
// fixed. The shapes are OpenAI's own, byte for byte as its API sends them.
package mock

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Config says what the mock answers.
type Config struct {
	// Chunks is the number of content chunks in a stream, and of words in
	// a non-streamed answer. Default 20.
	Chunks int
	// Delay is the pause before each content chunk after the first.
	Delay time.Duration
	// Model is the model name in every answer. Default "mock-model".
	Model string
}

// Usage the mock always reports.
const (
	PromptTokens     = 12
	CompletionTokens = 34
)

// Word is the text of one content chunk.
const Word = "lorem "

// Mock is the upstream's http.Handler.
type Mock struct {
	cfg Config

	body       []byte   // the non-streamed answer
	bodyLen    []string // its Content-Length
	role       []byte   // first stream chunk
	content    []byte   // one content chunk
	finish     []byte   // finish chunk
	usage      []byte   // usage chunk
	done       []byte   // data: [DONE]
	jsonType   []string
	sseType    []string
	noCache    []string
	bufs       sync.Pool
	streamFlag []byte
	usageFlag  []byte
}

// New returns a mock answering as cfg says.
func New(cfg Config) *Mock {
	if cfg.Chunks <= 0 {
		cfg.Chunks = 20
	}
	if cfg.Model == "" {
		cfg.Model = "mock-model"
	}
	m := &Mock{cfg: cfg,
		jsonType:   []string{"application/json"},
		sseType:    []string{"text/event-stream; charset=utf-8"},
		noCache:    []string{"no-cache"},
		streamFlag: []byte(`"stream":true`),
		usageFlag:  []byte(`"include_usage":true`),
	}
	m.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	model := strconv.Quote(cfg.Model)
	usage := `{"prompt_tokens":` + strconv.Itoa(PromptTokens) + `,"completion_tokens":` + strconv.Itoa(CompletionTokens) +
		`,"total_tokens":` + strconv.Itoa(PromptTokens+CompletionTokens) +
		`,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`
	text := bytes.Repeat([]byte(Word), cfg.Chunks)
	m.body = []byte(`{"id":"chatcmpl-mock","object":"chat.completion","created":1733150400,"model":` + model +
		`,"choices":[{"index":0,"message":{"role":"assistant","content":` + strconv.Quote(string(text)) +
		`,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":` + usage +
		`,"service_tier":"default","system_fingerprint":"fp_mock"}`)
	m.bodyLen = []string{strconv.Itoa(len(m.body))}
	prefix := `data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":1733150400,"model":` + model +
		`,"system_fingerprint":"fp_mock","choices":[`
	m.role = []byte(prefix + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	m.content = []byte(prefix + `{"index":0,"delta":{"content":` + strconv.Quote(Word) + `},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	m.finish = []byte(prefix + `{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}` + "\n\n")
	m.usage = []byte(prefix + `],"usage":` + usage + "}\n\n")
	m.done = []byte("data: [DONE]\n\n")
	return m
}

// ServeHTTP answers POST …/chat/completions; every other request gets 404.
func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !isChatPath(r.URL.Path) {
		http.NotFound(w, r)
		return
	}
	bp := m.bufs.Get().(*[]byte)
	body, err := readAll(r.Body, (*bp)[:0])
	stream := bytes.Contains(body, m.streamFlag)
	usage := bytes.Contains(body, m.usageFlag)
	*bp = body
	m.bufs.Put(bp)
	if err != nil {
		http.Error(w, "reading the request failed", http.StatusBadRequest)
		return
	}
	h := w.Header()
	if !stream {
		h["Content-Type"] = m.jsonType
		h["Content-Length"] = m.bodyLen
		_, _ = w.Write(m.body)
		return
	}
	h["Content-Type"] = m.sseType
	h["Cache-Control"] = m.noCache
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	send := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		if f != nil {
			f.Flush()
		}
		return true
	}
	if !send(m.role) {
		return
	}
	var timer *time.Timer
	for i := range m.cfg.Chunks {
		if i > 0 && m.cfg.Delay > 0 {
			if timer == nil {
				timer = time.NewTimer(m.cfg.Delay)
			} else {
				timer.Reset(m.cfg.Delay)
			}
			select {
			case <-r.Context().Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		if !send(m.content) {
			return
		}
	}
	if !send(m.finish) {
		return
	}
	if usage && !send(m.usage) {
		return
	}
	send(m.done)
}

func isChatPath(p string) bool {
	return p == "/v1/chat/completions" || p == "/chat/completions"
}

// readAll is io.ReadAll into a reused buffer.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
