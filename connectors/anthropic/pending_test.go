package anthropic

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// arrived hands out what has arrived in one Read; a Read beyond it would
// wait on the network, which Pending must never do.
type arrived struct {
	data   string
	waited bool
}

func (a *arrived) Read(p []byte) (int, error) {
	if a.data == "" {
		a.waited = true
		return 0, errors.New("waited on the network")
	}
	n := copy(p, a.data)
	a.data = a.data[n:]
	return n, nil
}

func (a *arrived) Close() error { return nil }

// TestPending: a ping is not an event for the client; after message_stop
// nothing more is read until Next, whatever the body still holds.
func TestPending(t *testing.T) {
	const (
		start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n"
		block = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
		text  = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
		ping  = "event: ping\ndata: {\"type\": \"ping\"}\n\n"
		stop  = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	)
	p := testProvider(t)
	for _, tt := range []struct {
		name, rest string
		want       bool
	}{
		{"another text", text, true},
		{"a ping", ping, false},
		{"a ping, then a text", ping + text, true},
		{"the end, and more held open", stop + ping, true},
	} {
		body := &arrived{data: start + block + text + tt.rest}
		st := p.newStream(context.Background(), &http.Response{Body: body}, false)
		for { // up to the first text
			ev, err := st.Next()
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if ev.Text == "hi" {
				break
			}
		}
		if got := st.Pending(); got != tt.want {
			t.Errorf("%s: Pending = %v, want %v", tt.name, got, tt.want)
		}
		for st.Pending() { // hand out what has arrived
			if _, err := st.Next(); err != nil {
				break
			}
		}
		if body.waited {
			t.Errorf("%s: Pending read past what had arrived", tt.name)
		}
	}
}
