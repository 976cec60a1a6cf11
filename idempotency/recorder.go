package idempotency

import (
	"net/http"
)

// Recorder passes a response through to the client and keeps a copy of
// it, up to a size, for the store. It is only put in front of requests
// that carry an idempotency key; others write to the client directly.
//
// It implements Unwrap, so http.ResponseController reaches the real
// writer: flushes of a stream go out at once.
type Recorder struct {
	w     http.ResponseWriter
	limit int

	status   int
	header   http.Header
	body     []byte
	overflow bool
}

// NewRecorder wraps w, keeping at most limit bytes of body.
func NewRecorder(w http.ResponseWriter, limit int) *Recorder {
	return &Recorder{w: w, limit: limit}
}

// Header implements http.ResponseWriter.
func (r *Recorder) Header() http.Header { return r.w.Header() }

// WriteHeader implements http.ResponseWriter.
func (r *Recorder) WriteHeader(status int) {
	if r.status == 0 && status >= 200 {
		r.status = status
		h := r.w.Header()
		r.header = make(http.Header, 4)
		for _, k := range ReplayedHeaders {
			if vs, ok := h[k]; ok {
				r.header[k] = append([]string(nil), vs...)
			}
		}
	}
	r.w.WriteHeader(status)
}

// Write implements http.ResponseWriter.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.w.Write(b)
	if !r.overflow {
		if len(r.body)+n > r.limit {
			r.overflow, r.body = true, nil
		} else {
			r.body = append(r.body, b[:n]...)
		}
	}
	return n, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.w }

// Status is the status written, 0 if none yet.
func (r *Recorder) Status() int { return r.status }

// Overflow reports whether the body outgrew the limit, so that no copy
// was kept.
func (r *Recorder) Overflow() bool { return r.overflow }

// Response is the recorded response; nil after an overflow or before
// anything was written.
func (r *Recorder) Response(requestID string) *Response {
	if r.overflow || r.status == 0 {
		return nil
	}
	return &Response{Status: r.status, Header: r.header, Body: r.body, RequestID: requestID}
}
