package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"time"
)

// Failures, as counted in Result.ErrorKinds.
const (
	errDial       = "dial"
	errIO         = "io"
	errTimeout    = "timeout"
	errProtocol   = "protocol"
	errIncomplete = "incomplete-stream"
	errInBand     = "stream-error-event"
	errEmpty      = "empty-body"
)

// statusError is a non-200 answer.
type statusError int

func (e statusError) Error() string { return "status " + itoa(int(e)) }

type kindError string

func (e kindError) Error() string { return string(e) }

// conn is one worker's keep-alive connection and its reusable buffers.
type conn struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader // the connection
	body    bodyReader
	lines   *bufio.Reader // the body of an event stream, line by line
}

func newConn(addr string, timeout time.Duration) *conn {
	return &conn{addr: addr, timeout: timeout}
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

func (c *conn) dial() error {
	nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
	if err != nil {
		return kindError(errDial)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	c.c = nc
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 32<<10)
		c.lines = bufio.NewReaderSize(&c.body, 64<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

// timing is what one exchange measured, as offsets from its start.
type timing struct {
	firstByte  time.Duration
	firstEvent time.Duration
	end        time.Duration
	events     int
	maxGap     time.Duration
}

// do sends one request and reads the whole answer. For streams, gap is
// called with the time between consecutive events.
func (c *conn) do(t *Target, start time.Time, gap func(time.Duration)) (tm timing, err error) {
	if c.c == nil {
		if err := c.dial(); err != nil {
			return tm, err
		}
	}
	if c.timeout > 0 {
		_ = c.c.SetDeadline(start.Add(c.timeout))
	}
	tm, keep, err := c.exchange(t, start, gap)
	if err != nil || !keep {
		c.close()
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = kindError(errTimeout)
		}
	}
	return tm, err
}

func (c *conn) exchange(t *Target, start time.Time, gap func(time.Duration)) (tm timing, keep bool, err error) {
	if _, err := c.c.Write(t.Request); err != nil {
		return tm, false, kindError(errIO)
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return tm, false, kindError(errIO)
	}
	tm.firstByte = time.Since(start)
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return tm, false, kindError(errProtocol)
	}
	status := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	length, chunked, keep := int64(-1), false, line[7] == '1'
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return tm, false, kindError(errIO)
		}
		if len(line) <= 2 {
			break
		}
		switch {
		case hasPrefixFold(line, "content-length:"):
			length = parseInt(line[len("content-length:"):])
		case hasPrefixFold(line, "transfer-encoding:"):
			chunked = bytes.Contains(line, []byte("chunked"))
		case hasPrefixFold(line, "connection:"):
			if bytes.Contains(line, []byte("close")) {
				keep = false
			}
		}
	}
	switch {
	case chunked:
		c.body.reset(c.br, -1, true)
	case length >= 0:
		c.body.reset(c.br, length, false)
	default:
		c.body.reset(c.br, -1, false) // until the connection closes
		keep = false
	}
	if status != 200 {
		_, err := io.Copy(io.Discard, &c.body)
		tm.end = time.Since(start)
		return tm, keep && err == nil, statusError(status)
	}
	if !t.Stream {
		n, err := io.Copy(io.Discard, &c.body)
		tm.end = time.Since(start)
		if err != nil {
			return tm, false, kindError(errIO)
		}
		if n == 0 {
			return tm, keep, kindError(errEmpty)
		}
		return tm, keep, nil
	}
	tm, err = c.readEvents(t, start, tm, gap)
	return tm, keep && err == nil, err
}

// readEvents reads an event stream to its end, timing each event as it is
// dispatched (at the blank line that ends it).
func (c *conn) readEvents(t *Target, start time.Time, tm timing, gap func(time.Duration)) (timing, error) {
	c.lines.Reset(&c.body)
	var (
		hasData, done, failed bool
		last                  time.Duration
	)
	for {
		line, err := c.lines.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return tm, kindError(errProtocol)
		}
		if err != nil && err != io.EOF {
			return tm, kindError(errIO)
		}
		if err == io.EOF && len(line) == 0 {
			break
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if !hasData {
				continue
			}
			hasData = false
			now := time.Since(start)
			if tm.events == 0 {
				tm.firstEvent = now
			} else {
				g := now - last
				if g > tm.maxGap {
					tm.maxGap = g
				}
				if gap != nil {
					gap(g)
				}
			}
			last = now
			tm.events++
		case bytes.HasPrefix(line, []byte("data:")):
			hasData = true
			v := bytes.TrimPrefix(line[5:], []byte(" "))
			if t.Completion == DoneOpenAI && bytes.Equal(v, []byte("[DONE]")) {
				done = true
			}
			if bytes.HasPrefix(v, []byte(`{"error"`)) {
				failed = true
			}
		case bytes.HasPrefix(line, []byte("event:")):
			v := bytes.TrimPrefix(line[6:], []byte(" "))
			switch {
			case t.Completion == DoneAnthropic && bytes.Equal(v, []byte("message_stop")):
				done = true
			case bytes.Equal(v, []byte("error")):
				failed = true
			}
		}
		if err == io.EOF {
			break
		}
	}
	tm.end = time.Since(start)
	switch {
	case failed:
		return tm, kindError(errInBand)
	case !done:
		return tm, kindError(errIncomplete)
	}
	return tm, nil
}

// bodyReader reads one response body: Content-Length bytes, HTTP/1.1
// chunks, or everything until EOF.
type bodyReader struct {
	br      *bufio.Reader
	n       int64 // bytes left in the body (fixed length) or the chunk
	chunked bool
	eof     bool
}

func (b *bodyReader) reset(br *bufio.Reader, n int64, chunked bool) {
	*b = bodyReader{br: br, n: n, chunked: chunked}
	if chunked {
		b.n = 0
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if !b.chunked {
		if b.n == 0 {
			b.eof = true
			return 0, io.EOF
		}
		if b.n > 0 && int64(len(p)) > b.n {
			p = p[:b.n]
		}
		n, err := b.br.Read(p)
		if b.n > 0 {
			b.n -= int64(n)
		}
		if err == io.EOF && b.n < 0 {
			b.eof = true
		}
		return n, err
	}
	if b.n == 0 {
		line, err := b.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		size, ok := parseHex(line)
		if !ok {
			return 0, kindError(errProtocol)
		}
		if size == 0 {
			for { // trailers, then the blank line
				line, err = b.br.ReadSlice('\n')
				if err != nil {
					return 0, err
				}
				if len(line) <= 2 {
					break
				}
			}
			b.eof = true
			return 0, io.EOF
		}
		b.n = size
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if b.n == 0 && err == nil {
		_, err = b.br.Discard(2) // CRLF after the chunk
	}
	return n, err
}

func hasPrefixFold(line []byte, prefix string) bool {
	if len(line) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := line[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func parseInt(b []byte) int64 {
	var n int64
	seen := false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			seen = true
		case c == ' ' || c == '\t':
			if seen {
				return n
			}
		default:
			if seen {
				return n
			}
			if c == '\r' || c == '\n' {
				return -1
			}
		}
	}
	if !seen {
		return -1
	}
	return n
}

func parseHex(line []byte) (int64, bool) {
	var n int64
	seen := false
	for _, c := range line {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return n, seen
		}
		n = n<<4 | int64(d)
		seen = true
		if n > 1<<40 {
			return 0, false
		}
	}
	return n, seen
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
