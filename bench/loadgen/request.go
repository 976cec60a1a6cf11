// Package loadgen is the load generator: HTTP/1.1 over pooled keep-alive
// connections (one per worker), a request written as precomputed bytes,
// the response parsed in place with no per-request allocation on the
// steady path, and an SSE reader that timestamps every event. It runs in
// closed loop (fixed concurrency), open loop (fixed rate, latency measured
// from each request's intended start so queueing counts) or once per
// worker (many long-lived streams).
package loadgen

import (
	"strconv"
)

// Completion says how a stream signals a complete answer.
type Completion uint8

const (
	// DoneOpenAI: a data: [DONE] event (OpenAI Chat Completions).
	DoneOpenAI Completion = iota
	// DoneAnthropic: an event: message_stop event (Anthropic Messages).
	DoneAnthropic
)

// Target is what one load run sends, and where.
type Target struct {
	// Addr is host:port.
	Addr string
	// Request is the whole HTTP/1.1 request; see BuildRequest.
	Request []byte
	// Stream says the answer is an event stream to read event by event.
	Stream bool
	// Completion is how a stream ends.
	Completion Completion
}

// BuildRequest renders a POST with a JSON body and keep-alive.
func BuildRequest(host, path string, headers [][2]string, body []byte) []byte {
	b := make([]byte, 0, 256+len(body))
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: xjp-bench\r\nContent-Type: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	for _, h := range headers {
		b = append(b, h[0]...)
		b = append(b, ": "...)
		b = append(b, h[1]...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}
