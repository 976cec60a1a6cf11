package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Slow and vanished clients: a client that stops reading holds back the
// upstream instead of making the gateway buffer the answer, and a client
// that hangs up cancels the upstream call and leaves no goroutine behind.

// streamingUpstream writes chunks as fast as the gateway takes them until
// the call is cancelled, counting the bytes it got rid of.
type streamingUpstream struct {
	srv       *httptest.Server
	written   atomic.Int64
	cancelled chan struct{}
}

func newStreamingUpstream(t *testing.T) *streamingUpstream {
	u := &streamingUpstream{cancelled: make(chan struct{}, 1)}
	chunk := []byte(orChunk(strings.Repeat("x", 4000)))
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server notices a hang-up
		w.Header().Set("Content-Type", "text/event-stream")
		for {
			n, err := w.Write(chunk)
			u.written.Add(int64(n))
			if err != nil || r.Context().Err() != nil {
				u.cancelled <- struct{}{}
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func streamingConfig(upstreamURL string) string {
	return fmt.Sprintf(`
:%d {
	xjp_gateway {
		provider fast openrouter {
			base_url %s/api/v1
			api_key %s
		}
		model endless {
			primary fast openai/gpt-4o
		}
		keys {
			key key-all tenant t1
		}
	}
}
`, ports.http, upstreamURL, providerKey)
}

// openStream sends a streamed chat request on a raw connection and
// returns it unread.
func openStream(t *testing.T) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports.http))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"endless","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer key-all\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	return conn
}

// leakOptions ignore what outlives a request by design: pooled idle
// connections to the upstream, Caddy's own housekeeping.
func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreCurrent(),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		// Caddy's storage lock, refreshed while a config loads.
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
	}
}

func TestSlowClientHoldsBackTheUpstream(t *testing.T) {
	up := newStreamingUpstream(t)
	loadCaddyfile(t, streamingConfig(up.srv.URL))
	opts := leakOptions()

	conn := openStream(t)
	// Read the status line, then stop reading.
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("status %q, %v", status, err)
	}
	// The upstream can write only until the socket buffers between it and
	// the client fill; then it waits. Watch it settle.
	var last int64 = -1
	settled := false
	for i := 0; i < 200 && !settled; i++ { // 10s at most: a hang guard
		time.Sleep(50 * time.Millisecond)
		n := up.written.Load()
		settled, last = n == last, n
	}
	if !settled {
		t.Fatalf("the upstream still writes after 10s (%d MiB) to a client that reads nothing: the gateway buffers without bound", last>>20)
	}
	t.Logf("the upstream wrote %d KiB to a client that reads nothing", up.written.Load()>>10)
	if n := up.written.Load(); n > 64<<20 {
		t.Fatalf("the upstream wrote %d MiB to a client that reads nothing: the gateway buffers without bound", n>>20)
	}
	// The client hangs up: the upstream call is cancelled.
	conn.Close()
	select {
	case <-up.cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream call outlived the client")
	}
	goleak.VerifyNone(t, opts...)
}

func TestVanishedClientCancelsTheUpstream(t *testing.T) {
	up := newStreamingUpstream(t)
	loadCaddyfile(t, streamingConfig(up.srv.URL))
	opts := leakOptions()
	for i := range 20 {
		conn := openStream(t)
		// Read some of the stream, then vanish.
		buf := make([]byte, 64+i*4096)
		if _, err := io.ReadFull(conn, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200")) {
			t.Fatalf("answer %q", buf[:min(len(buf), 40)])
		}
		conn.Close()
		select {
		case <-up.cancelled:
		case <-time.After(10 * time.Second):
			t.Fatalf("stream %d: the upstream call outlived the client", i)
		}
	}
	goleak.VerifyNone(t, opts...)
}
