// Package handlers holds the client-facing API dialects. Each dialect turns
// its request body into a unified.Request and writes unified responses,
// streams and errors back in its own wire format. The Caddy handler picks a
// dialect by endpoint and runs the one request pipeline for all of them.
package handlers

import (
	"net/http"
	"time"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// Dialect is one client-facing API.
type Dialect interface {
	// Name is the dialect's name ("openai", "anthropic"), as used in logs,
	// metrics and usage rows.
	Name() string

	// DecodeRequest parses a request body. Errors are *unified.Error
	// values naming the offending field.
	DecodeRequest(body []byte) (*unified.Request, error)

	// WriteResponse writes a whole answer with status 200.
	WriteResponse(w http.ResponseWriter, resp *unified.Response, m *Meta)

	// NewStream starts an event-stream answer: it sends status 200 and the
	// SSE headers at once, with whatever headers w already holds.
	NewStream(w http.ResponseWriter, m *Meta) StreamWriter

	// WriteError writes an error answer; nothing may have been written yet.
	WriteError(w http.ResponseWriter, err *unified.Error)
}

// StreamWriter writes one streamed answer. Every method flushes what it
// wrote, so each event reaches the client as soon as it exists. An error
// from a method means the client is gone.
type StreamWriter interface {
	// Event writes what the dialect makes of one unified event (possibly
	// nothing yet: finish and usage wait for End).
	Event(ev unified.Event) error
	// End closes a complete answer.
	End() error
	// Fail ends the answer with the dialect's error event.
	Fail(err *unified.Error) error
}

// Meta is what a dialect needs to know about the answer it writes.
type Meta struct {
	// ID is the gateway's id for the request; dialects derive their
	// response ids from it.
	ID string
	// Model is the model name shown to the client: the name it asked for.
	Model string
	// Created is when the request arrived.
	Created time.Time
	// Request is the decoded request.
	Request *unified.Request
}
