package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/xiaojinpro/xjp-gateway/internal/fixtures"
)

type ev struct{ name, data string }

// readAll reads every event; it copies the slices, which are only valid
// until the next call.
func readAll(r *Reader) ([]ev, error) {
	var out []ev
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, ev{string(e.Name), string(e.Data)})
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"empty stream", "", nil},
		{"only blank lines and comments", "\n\n: keep-alive\n\n:\n\n", nil},
		{"LF", "data: a\n\ndata: b\n\n", []ev{{"", "a"}, {"", "b"}}},
		{"CRLF", "data: a\r\n\r\ndata: b\r\n\r\n", []ev{{"", "a"}, {"", "b"}}},
		{"lone CR", "data: a\r\rdata: b\r\r", []ev{{"", "a"}, {"", "b"}}},
		{"mixed line ends", "data: a\r\n\ndata: b\r\rdata: c\n\r\n", []ev{{"", "a"}, {"", "b"}, {"", "c"}}},
		{"lone CR at the very end", "data: a\r", []ev{{"", "a"}}},
		{"comments are dropped", ": OPENROUTER PROCESSING\n\n: x\ndata: a\n:\n\n", []ev{{"", "a"}}},
		{"comment between data lines", "data: a\n: ping\ndata: b\n\n", []ev{{"", "a\nb"}}},
		{"multi-line data", "data: a\ndata: b\ndata:\ndata: c\n\n", []ev{{"", "a\nb\n\nc"}}},
		{"data without a space", "data:{\"a\":1}\n\n", []ev{{"", `{"a":1}`}}},
		{"only one space is stripped", "data:  two\n\n", []ev{{"", " two"}}},
		{"trailing spaces kept", "data: x \n\n", []ev{{"", "x "}}},
		{"field without colon", "data\n\n", []ev{{"", ""}}},
		{"empty data dispatches", "data:\n\n", []ev{{"", ""}}},
		{"event names", "event: message_start\ndata: {}\n\nevent:ping\ndata: p\n\n", []ev{{"message_start", "{}"}, {"ping", "p"}}},
		{"event name after data", "data: x\nevent: late\n\n", []ev{{"late", "x"}}},
		{"event name resets between events", "event: a\ndata: 1\n\ndata: 2\n\n", []ev{{"a", "1"}, {"", "2"}}},
		{"last event name wins", "event: a\nevent: b\ndata: 1\n\n", []ev{{"b", "1"}}},
		{"id, retry and unknown fields ignored", "id: 7\nretry: 100\nfoo: bar\ndata: x\n\n", []ev{{"", "x"}}},
		{"last event without blank line", "data: a\n\ndata: b", []ev{{"", "a"}, {"", "b"}}},
		{"last event with one newline", "data: a\n\nevent: e\ndata: b\n", []ev{{"", "a"}, {"e", "b"}}},
		{"last event multi-line without blank line", "data: a\ndata: b", []ev{{"", "a\nb"}}},
		{"blank lines before first event", "\n\n\r\ndata: a\n\n", []ev{{"", "a"}}},
		{"colon in value", "data: {\"url\":\"https://x\"}\n\n", []ev{{"", `{"url":"https://x"}`}}},
		{"DONE marker", "data: {}\n\ndata: [DONE]\n\n", []ev{{"", "{}"}, {"", "[DONE]"}}},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data+EOF", iotest.DataErrReader},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				t.Parallel()
				got, err := readAll(NewReader(rd.wrap(strings.NewReader(tt.in)), 0))
				if !errors.Is(err, io.EOF) {
					t.Fatalf("final error = %v, want io.EOF (events %q)", err, got)
				}
				if !equalEvents(got, tt.want) {
					t.Fatalf("events = %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func equalEvents(a, b []ev) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// chunkReader returns its chunks one Read at a time.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// A CRLF split across two reads must count as one line end, not two
// (which would end the event early and split "a\nb" into two events).
func TestReaderCRAtBufferBoundary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		chunks []string
		want   []ev
	}{
		{"CR|LF inside an event", []string{"data: a\r", "\ndata: b\r\n\r\n"}, []ev{{"", "a\nb"}}},
		{"CR|LF at the event end", []string{"data: a\r\n\r", "\ndata: b\r\n\r\n"}, []ev{{"", "a"}, {"", "b"}}},
		{"lone CR then data", []string{"data: a\r", "data: b\r\r"}, []ev{{"", "a\nb"}}},
		{"CR then EOF", []string{"data: a\r"}, []ev{{"", "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(NewReader(&chunkReader{chunks: append([]string(nil), tt.chunks...)}, 0))
			if !errors.Is(err, io.EOF) {
				t.Fatalf("err = %v", err)
			}
			if !equalEvents(got, tt.want) {
				t.Fatalf("events = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReaderEOFIsSticky(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("data: a"), 0)
	if e, err := r.Next(); err != nil || string(e.Data) != "a" {
		t.Fatalf("Next = %q, %v", e.Data, err)
	}
	for range 3 {
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("Next after the end = %v, want io.EOF", err)
		}
	}
}

func TestReaderTooLarge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		max  int
		in   string
		ok   int // events read before the error
	}{
		{"one data line over the limit", 16, "data: " + strings.Repeat("x", 17) + "\n\n", 0},
		{"data lines adding up over the limit", 16, "data: 12345678\ndata: 12345678\n\n", 0},
		{"a line longer than the scanner buffer", 8192, "data: " + strings.Repeat("x", 10000) + "\n\n", 0},
		{"a good event first", 16, "data: ok\n\ndata: " + strings.Repeat("y", 40) + "\n\n", 1},
		{"no line end at all", 8192, strings.Repeat("z", 9000), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readAll(NewReader(strings.NewReader(tt.in), tt.max))
			if !errors.Is(err, ErrEventTooLarge) {
				t.Fatalf("err = %v, want ErrEventTooLarge", err)
			}
			if len(got) != tt.ok {
				t.Fatalf("got %d events before the error, want %d", len(got), tt.ok)
			}
		})
	}

	t.Run("exactly at the limit", func(t *testing.T) {
		t.Parallel()
		data := strings.Repeat("x", 16)
		got, err := readAll(NewReader(strings.NewReader("data: "+data+"\n\n"), 16))
		if !errors.Is(err, io.EOF) || len(got) != 1 || got[0].data != data {
			t.Fatalf("events = %q, err = %v", got, err)
		}
	})

	t.Run("default limit accepts a large event", func(t *testing.T) {
		t.Parallel()
		data := strings.Repeat("x", 1<<20)
		got, err := readAll(NewReader(strings.NewReader("data: "+data+"\n\n"), 0))
		if !errors.Is(err, io.EOF) || len(got) != 1 || len(got[0].data) != len(data) {
			t.Fatalf("got %d events, err = %v", len(got), err)
		}
	})
}

func TestReaderReadError(t *testing.T) {
	t.Parallel()
	errBroken := errors.New("connection reset")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(errBroken)), 0)
	got, err := readAll(r)
	if !errors.Is(err, errBroken) {
		t.Fatalf("err = %v, want %v", err, errBroken)
	}
	// The complete event arrives; the half event is not dispatched as if
	// the stream had ended cleanly.
	if !equalEvents(got, []ev{{"", "a"}}) {
		t.Fatalf("events = %q", got)
	}
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	// Number of data events per fixture, and whether the fixture uses
	// event: lines (Anthropic) and must name every event after its type.
	want := map[string]struct {
		data  int
		named bool
	}{
		"anthropic_stream_error.sse":            {4, true},
		"anthropic_stream_text.sse":             {8, true},
		"anthropic_stream_tool_use.sse":         {12, true},
		"clewdr_oai_stream.sse":                 {3, false},
		"gemini_stream_function_call.sse":       {2, false},
		"gemini_stream_text.sse":                {3, false},
		"openai_stream_midstream_error.sse":     {3, false},
		"openai_stream_text.sse":                {8, false},
		"openai_stream_tool_call.sse":           {9, false},
		"openrouter_stream_midstream_error.sse": {3, false},
		"openrouter_stream_with_comments.sse":   {6, false},
	}
	files := fixtures.Names(".sse")
	if len(files) == 0 {
		t.Fatal("no .sse fixtures")
	}
	seen := map[string]bool{}
	for _, f := range files {
		base := filepath.Base(f)
		seen[base] = true
		w, ok := want[base]
		if !ok {
			t.Errorf("fixture %s has no expectation in this test; add one", base)
			continue
		}
		body := fixtures.Read(t, f)
		for _, rd := range []struct {
			name string
			r    io.Reader
		}{
			{"whole", bytes.NewReader(body)},
			{"one byte", iotest.OneByteReader(bytes.NewReader(body))},
		} {
			t.Run(base+"/"+rd.name, func(t *testing.T) {
				got, err := readAll(NewReader(rd.r, 0))
				if !errors.Is(err, io.EOF) {
					t.Fatalf("err = %v", err)
				}
				if len(got) != w.data {
					t.Fatalf("%d data events, want %d", len(got), w.data)
				}
				for i, e := range got {
					if e.data == "[DONE]" {
						if i != len(got)-1 {
							t.Errorf("[DONE] is event %d of %d", i, len(got))
						}
						continue
					}
					if strings.ContainsAny(e.data, "\r\n") {
						t.Errorf("event %d holds a line end: %q", i, e.data)
					}
					var obj map[string]any
					if err := json.Unmarshal([]byte(e.data), &obj); err != nil {
						t.Errorf("event %d is not a JSON object: %v: %q", i, err, e.data)
						continue
					}
					if w.named {
						if e.name == "" || obj["type"] != e.name {
							t.Errorf("event %d: name %q, JSON type %v", i, e.name, obj["type"])
						}
					} else if e.name != "" {
						t.Errorf("event %d has a name %q", i, e.name)
					}
				}
			})
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("fixture %s is missing", name)
		}
	}
}

func TestReaderBareJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"one bare line at the end", "data: {\"a\":1}\n\n{\"error\":{\"code\":500}}\n", []ev{{"", `{"a":1}`}, {"", `{"error":{"code":500}}`}}},
		{"bare line without newline", "data: 1\n\n{\"error\":{}}", []ev{{"", "1"}, {"", `{"error":{}}`}}},
		{"pretty-printed block, CRLF", "data: 1\r\n\r\n{\r\n  \"error\": {\r\n    \"code\": 503\r\n  }\r\n}\r\n", []ev{{"", "1"}, {"", "{\n  \"error\": {\n    \"code\": 503\n  }\n}"}}},
		{"block ends at a blank line", "{\n\"x\": 1\n}\n\ndata: 2\n\n", []ev{{"", "{\n\"x\": 1\n}"}, {"", "2"}}},
		{"inside an event, a brace line is a field line", "data: 1\n{\"x\":2}\n\n", []ev{{"", "1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), 0)
			r.AcceptBareJSON()
			got, err := readAll(r)
			if !errors.Is(err, io.EOF) {
				t.Fatalf("final error = %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("events = %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
	// Without the option, the same bytes are unknown field lines.
	got, _ := readAll(NewReader(strings.NewReader("data: 1\n\n{\"error\":{}}\n"), 0))
	if len(got) != 1 {
		t.Errorf("bare JSON read without AcceptBareJSON: %q", got)
	}
	// A huge bare block is refused like a huge event.
	r := NewReader(strings.NewReader("{\n"+strings.Repeat("\"x\",\n", 100)+"}\n"), 64)
	r.AcceptBareJSON()
	if _, err := r.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("err = %v, want ErrEventTooLarge", err)
	}
}
