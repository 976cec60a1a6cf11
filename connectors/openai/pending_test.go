package openai

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// arrivals hands out one part per Read; a Read beyond them would wait on
// the network, which Pending must never do.
type arrivals struct {
	parts  []string
	waited bool
}

var errWaited = errors.New("waited on the network")

func (a *arrivals) Read(p []byte) (int, error) {
	if len(a.parts) == 0 {
		a.waited = true
		return 0, errWaited
	}
	n := copy(p, a.parts[0])
	if a.parts[0] = a.parts[0][n:]; a.parts[0] == "" {
		a.parts = a.parts[1:]
	}
	return n, nil
}

func (a *arrivals) Close() error { return nil }

// TestPending: Pending is true only when an event for the client has
// arrived; an upstream event that makes none (a comment, an empty delta)
// does not count, and Pending never waits on the network.
func TestPending(t *testing.T) {
	const text = `data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}` + "\n\n"
	const empty = `data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":null}]}` + "\n\n"
	tests := []struct {
		name    string
		arrived string
		want    bool
	}{
		{"two texts", text + text, true},
		{"one text", text, false},
		{"a text, then a comment", text + ": OPENROUTER PROCESSING\n\n", false},
		{"a text, then an empty delta", text + empty, false},
		{"a text, an empty delta, a text", text + empty + text, true},
		{"a text, half of the next", text + text[:20], false},
		{"a text, then the end", text + "data: [DONE]\n\n", true}, // the finish; the rest is read later
	}
	p := &OpenAI{}
	p.BaseURL = "http://127.0.0.1:1/v1"
	if err := p.setup("openai", "", false); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		body := &arrivals{parts: []string{tt.arrived}}
		st := p.newStream(context.Background(), &http.Response{Body: body})
		for { // up to the first text: the start comes with it
			ev, err := st.Next()
			if err != nil {
				t.Fatalf("%s: first text: %v", tt.name, err)
			}
			if ev.Text == "hi" {
				break
			}
		}
		body.waited = false // the first Next may have had to
		if got := st.Pending(); got != tt.want {
			t.Errorf("%s: Pending = %v, want %v", tt.name, got, tt.want)
		}
		if body.waited {
			t.Errorf("%s: Pending read past what had arrived", tt.name)
		}
		if tt.want {
			if _, err := st.Next(); err != nil {
				t.Errorf("%s: after Pending, Next: %v", tt.name, err)
			}
		}
	}
}
