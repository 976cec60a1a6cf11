package handlers

import "net/http"

// SSE writes a text/event-stream answer through Caddy's response writer
// chain. It flushes with http.ResponseController, which reaches the real
// connection through every wrapper (encode, timeouts, logging) that
// implements Unwrap.
type SSE struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// Buf is scratch space for building events; Send writes it.
	Buf []byte
}

// StartSSE sends status 200 with the event-stream headers and flushes them.
func StartSSE(w http.ResponseWriter) *SSE {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tells nginx in front not to buffer
	h.Del("Content-Length")
	w.WriteHeader(http.StatusOK)
	s := &SSE{w: w, rc: http.NewResponseController(w), Buf: make([]byte, 0, 512)}
	_ = s.rc.Flush()
	return s
}

// Send writes b and flushes it. An error means the client is gone.
func (s *SSE) Send(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	return s.rc.Flush()
}
