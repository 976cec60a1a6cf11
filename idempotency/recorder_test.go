package idempotency

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRecorderKeepsACopyAndFlushesThrough(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	r := NewRecorder(w, 64)
	r.Header().Set("Content-Type", "text/event-stream")
	r.Header().Set("X-Ratelimit-Remaining-Requests", "9") // the request's own: not replayed
	r.WriteHeader(http.StatusOK)
	r.Header().Set("X-Late", "ignored") // after the status: not part of the answer
	_, _ = r.Write([]byte("data: 1\n\n"))
	if err := http.NewResponseController(r).Flush(); err != nil {
		t.Fatalf("flush through the recorder: %v", err)
	}
	if !w.Flushed {
		t.Error("the flush did not reach the real writer")
	}
	_, _ = r.Write([]byte("data: 2\n\n"))
	resp := r.Response("req-1")
	if resp == nil || resp.Status != 200 || string(resp.Body) != "data: 1\n\ndata: 2\n\n" || resp.RequestID != "req-1" {
		t.Fatalf("recorded %+v", resp)
	}
	if len(resp.Header) != 1 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("recorded headers %v", resp.Header)
	}
	if w.Body.String() != "data: 1\n\ndata: 2\n\n" {
		t.Errorf("the client got %q", w.Body.String())
	}
}

func TestRecorderStopsCopyingAtItsLimit(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	r := NewRecorder(w, 8)
	_, _ = r.Write([]byte("12345"))
	_, _ = r.Write([]byte("6789"))
	if !r.Overflow() || r.Response("x") != nil {
		t.Errorf("overflow %v response %v", r.Overflow(), r.Response("x"))
	}
	if w.Body.String() != "123456789" || r.Status() != 200 {
		t.Errorf("the client got %d %q", r.Status(), w.Body.String())
	}
}
