package loadgen

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/bench/mock"
)

func target(t *testing.T, srvURL string, stream bool) Target {
	t.Helper()
	u, _ := url.Parse(srvURL)
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`
	}
	return Target{Addr: u.Host, Stream: stream,
		Request: BuildRequest(u.Host, "/v1/chat/completions", [][2]string{{"Authorization", "Bearer k"}}, []byte(body))}
}

// Each worker sends one request (Once), so the counts are exact.
func TestRunAgainstMock(t *testing.T) {
	srv := httptest.NewServer(mock.New(mock.Config{Chunks: 5}))
	defer srv.Close()
	for _, stream := range []bool{false, true} {
		res := Run(context.Background(), target(t, srv.URL, stream), Options{Concurrency: 8, Once: true})
		if res.Requests != 8 || res.Errors != 0 {
			t.Fatalf("stream=%v: %d requests, %d errors %v", stream, res.Requests, res.Errors, res.ErrorKinds)
		}
		if res.Latency.N != 8 || res.Latency.P50 <= 0 {
			t.Errorf("stream=%v: latency %+v", stream, res.Latency)
		}
		if stream {
			// role, 5 contents, finish, usage, [DONE]
			if res.Events != 8*9 || res.FirstEvent.N != 8 || res.Gap.N != 8*8 {
				t.Errorf("events %d, first events %d, gaps %d", res.Events, res.FirstEvent.N, res.Gap.N)
			}
		}
	}
}

// Keep-alive: one worker's requests share one connection.
func TestClosedLoopReusesConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(mock.New(mock.Config{Chunks: 2}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := newConn(srv.Listener.Addr().String(), 0)
	defer c.close()
	tg := target(t, srv.URL, true)
	for range 5 {
		if _, err := c.do(&tg, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 requests, want 1", n)
	}
}

func TestFailuresAreCounted(t *testing.T) {
	cases := map[string]http.HandlerFunc{
		"status 502": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":{"message":"bad gateway"}}`, http.StatusBadGateway)
		},
		errIncomplete: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: {\"choices\":[]}\n\n"))
		},
		errInBand: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = w.Write([]byte("data: {\"choices\":[]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n"))
		},
	}
	for want, h := range cases {
		srv := httptest.NewServer(h)
		res := Run(context.Background(), target(t, srv.URL, true), Options{Concurrency: 3, Once: true})
		srv.Close()
		if res.Errors != 3 || res.ErrorKinds[want] != 3 {
			t.Errorf("%s: errors %d %v", want, res.Errors, res.ErrorKinds)
		}
	}
}

func TestParseNumbers(t *testing.T) {
	for _, line := range []string{"1a\r\n", "1A;ext=1\r\n"} {
		n, ok := parseHex([]byte(line))
		if !ok || n != 26 {
			t.Errorf("parseHex(%q) = %d, %v", line, n, ok)
		}
	}
	if n := parseInt([]byte(" 123\r\n")); n != 123 {
		t.Errorf("parseInt = %d", n)
	}
}
