package openai

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// arrivals hands out one part per Read, then fails as a wait on the
// network would be.
type arrivals struct{ parts []string }

var errWaited = errors.New("waited on the network")

func (a *arrivals) Read(p []byte) (int, error) {
	if len(a.parts) == 0 {
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
	}
	p := &OpenAI{}
	p.BaseURL = "http://127.0.0.1:1/v1"
	if err := p.setup("openai", "", false); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		st := p.newStream(context.Background(), &http.Response{Body: &arrivals{parts: []string{tt.arrived}}})
		for { // up to the first text: the start comes with it
			ev, err := st.Next()
			if err != nil {
				t.Fatalf("%s: first text: %v", tt.name, err)
			}
			if ev.Text == "hi" {
				break
			}
		}
		if got := st.Pending(); got != tt.want {
			t.Errorf("%s: Pending = %v, want %v", tt.name, got, tt.want)
		}
		if tt.want {
			if ev, err := st.Next(); err != nil || ev.Text != "hi" {
				t.Errorf("%s: after Pending, Next = %+v, %v", tt.name, ev, err)
			}
		}
	}
}
