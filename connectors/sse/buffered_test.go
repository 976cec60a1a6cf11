package sse

import (
	"errors"
	"io"
	"testing"

	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
)

// chunks hands out its parts one Read at a time, then blocks: reading
// further stands for waiting on the network.
type chunks struct {
	parts [][]byte
}

var errWouldBlock = errors.New("would wait for the network")

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, c.parts[0])
	if c.parts[0] = c.parts[0][n:]; len(c.parts[0]) == 0 {
		c.parts = c.parts[1:]
	}
	return n, nil
}

func TestBuffered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parts []string
		want  []bool // Buffered after each event
	}{
		{"two events in one read", []string{"data: a\n\ndata: b\n\n"}, []bool{true, false}},
		{"the second still arriving", []string{"data: a\n\ndata: b", "\n\n"}, []bool{false, false}},
		{"a named event", []string{"data: a\n\nevent: x\ndata: b\n\n"}, []bool{true, false}},
		{"CRLF", []string{"data: a\r\n\r\ndata: b\r\n\r\n"}, []bool{true, false}},
		{"CR", []string{"data: a\r\rdata: b\r\rdata: c\r\r"}, []bool{true, false, false}}, // a last CR may yet have an LF after it
		{"a comment only", []string{"data: a\n\n: keep-alive\n\n"}, []bool{false}},
		{"a comment, then an event", []string{"data: a\n\n: keep-alive\n\ndata: b\n\n"}, []bool{true, false}},
		{"a blank line only", []string{"data: a\n\n\n"}, []bool{false}},
		{"an unknown field", []string{"data: a\n\nretry: 5\ndata: b\n\n"}, []bool{false, false}},
	}
	for _, tt := range tests {
		src := &chunks{}
		for _, p := range tt.parts {
			src.parts = append(src.parts, []byte(p))
		}
		r := NewReader(src, 0)
		for i, want := range tt.want {
			if _, err := r.Next(); err != nil {
				t.Fatalf("%s: event %d: %v", tt.name, i, err)
			}
			if got := r.Buffered(); got != want {
				t.Errorf("%s: after event %d: Buffered = %v, want %v", tt.name, i, got, want)
			}
		}
	}
}

// TestBufferedNeverWaits: over every provider stream, cut at every byte,
// Buffered never promises an event that Next must wait for.
func TestBufferedNeverWaits(t *testing.T) {
	t.Parallel()
	for _, name := range fixtures.Names(".sse") {
		raw := fixtures.Read(t, name)
		promised := 0
		for cut := 0; cut <= len(raw); cut++ {
			r := NewReader(&chunks{parts: [][]byte{raw[:cut], raw[cut:]}}, 0)
			for {
				buffered := r.Buffered()
				_, err := r.Next()
				if buffered {
					promised++
					if err != nil {
						t.Fatalf("%s cut at %d: Buffered promised an event, Next: %v", name, cut, err)
					}
				}
				if err != nil {
					if !errors.Is(err, errWouldBlock) && !errors.Is(err, io.EOF) {
						t.Fatalf("%s cut at %d: %v", name, cut, err)
					}
					break
				}
			}
		}
		if promised == 0 {
			t.Errorf("%s: Buffered never saw an event ahead", name)
		}
	}
}
