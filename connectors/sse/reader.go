// Package sse reads Server-Sent Events as providers send them: LF, CRLF or
// CR line ends, comment lines (OpenRouter's ": OPENROUTER PROCESSING",
// Clewdr's bare ":"), multi-line data, and a last event with no blank line
// after it.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// DefaultMaxEvent bounds one event's size; a provider that sends more in
// one event is broken or hostile.
const DefaultMaxEvent = 8 << 20

// ErrEventTooLarge is returned for an event over the size limit.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one dispatched event. Its slices are valid until the next call
// to Next.
type Event struct {
	Name []byte // the event: field, empty when absent
	Data []byte // data: lines joined with "\n"
}

// Reader reads events from a stream.
type Reader struct {
	sc       *bufio.Scanner
	max      int
	name     []byte
	data     []byte
	hasData  bool
	bareJSON bool // AcceptBareJSON
	inBare   bool // reading a bare JSON block
	// rest is what the scanner holds beyond the last line read: valid
	// until the next Scan, which is all Buffered needs.
	rest []byte
}

// NewReader reads from r, refusing lines longer than maxEvent bytes (0
// means DefaultMaxEvent).
func NewReader(r io.Reader, maxEvent int) *Reader {
	if maxEvent <= 0 {
		maxEvent = DefaultMaxEvent
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxEvent)
	rd := &Reader{sc: sc, max: maxEvent}
	sc.Split(rd.splitLines)
	return rd
}

// splitLines is scanLines, remembering what follows the line.
func (r *Reader) splitLines(data []byte, atEOF bool) (int, []byte, error) {
	advance, token, err := scanLines(data, atEOF)
	if token != nil {
		r.rest = data[advance:]
	}
	return advance, token, err
}

// Buffered reports whether the next event with data has already arrived
// whole, so that Next will return it without waiting for the network. A
// writer relaying events can then leave its output unflushed until the
// burst is over. It errs towards false.
func (r *Reader) Buffered() bool {
	rest, data := r.rest, false
	for len(rest) > 0 {
		advance, line, _ := scanLines(rest, false)
		if advance == 0 {
			return false // a partial line
		}
		if len(line) == 0 {
			if data {
				return true
			}
		} else if bytes.HasPrefix(line, []byte("data")) {
			data = true
		} else if line[0] != ':' && !bytes.HasPrefix(line, []byte("event")) && !bytes.HasPrefix(line, []byte("id")) {
			return false // bare JSON or the unknown: let Next judge
		}
		rest = rest[advance:]
	}
	return false
}

// AcceptBareJSON makes r also read a block of lines that starts with '{'
// outside any event, up to the next blank line, as an event of its own
// whose Data is the block. Google streams may end with such a bare
// {"error":…} object (one line or pretty-printed), which an SSE parser
// would otherwise drop as lines with unknown field names; go-genai reads it
// the same way.
func (r *Reader) AcceptBareJSON() { r.bareJSON = true }

// Next returns the next event, or io.EOF when the stream ends cleanly.
func (r *Reader) Next() (Event, error) {
	r.name, r.data, r.hasData, r.inBare = r.name[:0], r.data[:0], false, false
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if r.hasData {
				return Event{Name: r.name, Data: r.data}, nil
			}
			// The spec drops an event without data (a lone event: line).
			r.name = r.name[:0]
			continue
		}
		if r.inBare || (r.bareJSON && line[0] == '{' && !r.hasData && len(r.name) == 0) {
			if r.inBare {
				r.data = append(r.data, '\n')
			}
			r.inBare, r.hasData = true, true
			r.data = append(r.data, line...)
			if len(r.data) > r.max {
				return Event{}, ErrEventTooLarge
			}
			continue
		}
		if line[0] == ':' {
			continue // comment
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData = true
			if len(r.data) > r.max {
				return Event{}, ErrEventTooLarge
			}
		case "event":
			r.name = append(r.name[:0], value...)
		}
		// id, retry and unknown fields carry nothing a gateway needs.
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Event{}, ErrEventTooLarge
		}
		return Event{}, err
	}
	if r.hasData {
		// The stream ended without the blank line after its last event;
		// several providers do that, so dispatch it rather than lose it.
		return Event{Name: r.name, Data: r.data}, nil
	}
	return Event{}, io.EOF
}

// scanLines splits at LF, CRLF or a lone CR, as the SSE spec requires.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	lf := bytes.IndexByte(data, '\n')
	search := data
	if lf >= 0 {
		search = data[:lf]
	}
	if cr := bytes.IndexByte(search, '\r'); cr >= 0 {
		switch {
		case cr+1 < len(data) && data[cr+1] == '\n':
			return cr + 2, data[:cr], nil
		case cr+1 < len(data) || atEOF:
			return cr + 1, data[:cr], nil
		default:
			return 0, nil, nil // a CR at the buffer's end: LF may follow
		}
	}
	if lf >= 0 {
		return lf + 1, data[:lf], nil
	}
	if atEOF {
		return len(data), data, nil
	}
	return 0, nil, nil
}
