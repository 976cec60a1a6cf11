package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A config reload through Caddy's admin API (POST /load) while streams
// run loses no request, and the state that must outlive a config — rate
// limiters, circuit breakers, idempotency records — survives it.

// reloadRetries counts connections reset during a reload (see reloadCall).
var reloadRetries atomic.Int32

func reloadConfig(version int) string {
	var keys strings.Builder
	for i := range 8 {
		fmt.Fprintf(&keys, "\t\t\tkey key-s%d tenant t1\n", i)
	}
	return fmt.Sprintf(`
:%[1]d {
	header X-Config-Version %[4]d
	xjp_gateway {
		provider brk openrouter {
			base_url %[2]s/brk/api/v1
			api_key %[3]s
			breaker {
				failures 2
				cooldown 1h
			}
		}
		provider echo echo {
			chunk_delay 2ms
		}
		model echo-1 {
			primary echo
		}
		model guarded {
			primary brk openai/gpt-4o
			fallback echo echo-1
			retry {
				attempts 1
			}
		}
		keys {
			key key-lim tenant t1
			key key-brk tenant t1
			key key-idem tenant t1
%[5]s		}
		rate_limit {
			default_rpm 1
			burst 4
		}
	}
}
`, ports.http, fake.srv.URL, providerKey, version, keys.String())
}

// reloadCall sends a chat request and returns the status, the headers and
// the body, read to the end.
func reloadCall(t *testing.T, key, model, text string, stream bool, headers ...string) (int, http.Header, string) {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":%q}]}`, model, stream, text)
	req, err := http.NewRequest("POST", gatewayURL(ports.http)+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, nil, ""
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	for try := 1; err != nil && try < 3 && !errors.Is(err, context.DeadlineExceeded); try++ {
		// A connection that arrives while Caddy swaps listeners can be
		// reset by the kernel before anyone read it (Caddy binds the new
		// config's socket with SO_REUSEPORT and closes the old one, with
		// its accept queue): no request was read, and the SDKs retry such
		// errors as this does. Requests already read are never lost.
		reloadRetries.Add(1)
		req.Body, _ = req.GetBody()
		resp, err = client.Do(req)
	}
	if err != nil {
		t.Errorf("%s %s: %v", key, model, err)
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("%s %s: reading: %v", key, model, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestReloadUnderLoadKeepsState(t *testing.T) {
	loadCaddyfile(t, reloadConfig(1))
	defer func() { t.Logf("%d connections reset during the reload and retried", reloadRetries.Load()) }()
	fake.reset(t, serveJSON(500, []byte(`{"error":{"code":500,"message":"Internal Server Error"}}`)))

	// State before the reload: a limiter with one request left, an open
	// breaker, an answer kept for its idempotency key.
	for i := range 3 {
		if status, _, body := reloadCall(t, "key-lim", "echo-1", "hi", false); status != 200 {
			t.Fatalf("limited key, request %d: %d %s", i, status, body)
		}
	}
	for i := range 2 {
		if status, h, body := reloadCall(t, "key-brk", "guarded", "hi", false); status != 200 || h.Get("X-Xjp-Provider") != "echo" {
			t.Fatalf("guarded request %d: %d from %q: %s", i, status, h.Get("X-Xjp-Provider"), body)
		}
	}
	if n := fake.calls("/brk/"); n != 2 {
		t.Fatalf("%d upstream calls before the breaker opened, want 2", n)
	}
	_, _, first := reloadCall(t, "key-idem", "echo-1", "remember me", false, "Idempotency-Key", "reload-1")

	// Streams that run across the reload, and requests sent during it.
	long := strings.Repeat("word ", 150) // 150 chunks, 2ms apart
	var wg sync.WaitGroup
	results := make(chan string, 16)
	for i := range 8 {
		wg.Go(func() {
			status, _, body := reloadCall(t, fmt.Sprintf("key-s%d", i), "echo-1", long, true)
			if status != 200 || !strings.HasSuffix(strings.TrimSpace(body), "data: [DONE]") || strings.Count(body, "word") != 150 {
				results <- fmt.Sprintf("stream %d: status %d, %d words, ends %q", i, status, strings.Count(body, "word"), tail(body, 40))
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // let the streams start: not asserted, only for the test to mean something
	stop := make(chan struct{})
	var during sync.WaitGroup
	for i := range 8 {
		during.Go(func() {
			time.Sleep(time.Duration(i) * 5 * time.Millisecond) // spread over the reload
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if n >= 2 { // the key's burst: two more
					<-stop
					return
				}
				if status, _, body := reloadCall(t, fmt.Sprintf("key-s%d", i), "echo-1", "during", false); status != 200 {
					results <- fmt.Sprintf("request during the reload: %d %s", status, body)
				}
			}
		})
	}
	loadCaddyfile(t, reloadConfig(2)) // POST /load
	close(stop)
	during.Wait()
	wg.Wait()
	close(results)
	for r := range results {
		t.Error(r)
	}
	if _, h, _ := reloadCall(t, "key-all-missing", "echo-1", "x", false); h.Get("X-Config-Version") != "2" {
		t.Fatalf("the new config is not serving (X-Config-Version %q)", h.Get("X-Config-Version"))
	}

	// The limiter kept its count: one request left, then 429.
	if status, _, body := reloadCall(t, "key-lim", "echo-1", "hi", false); status != 200 {
		t.Errorf("limited key, last allowed request after the reload: %d %s", status, body)
	}
	if status, _, _ := reloadCall(t, "key-lim", "echo-1", "hi", false); status != 429 {
		t.Errorf("limited key after the reload: %d, want 429: the reload reset the limiter", status)
	}
	// The breaker is still open: the fallback serves without calling.
	if status, h, _ := reloadCall(t, "key-brk", "guarded", "hi", false); status != 200 || h.Get("X-Xjp-Provider") != "echo" {
		t.Errorf("guarded after the reload: %d from %q", status, h.Get("X-Xjp-Provider"))
	}
	if n := fake.calls("/brk/"); n != 2 {
		t.Errorf("%d upstream calls: the reload closed the breaker", n)
	}
	// The idempotent answer is replayed.
	status, h, again := reloadCall(t, "key-idem", "echo-1", "remember me", false, "Idempotency-Key", "reload-1")
	if status != 200 || h.Get("Idempotent-Replayed") != "true" || again != first {
		t.Errorf("after the reload: %d replayed %q, body %q, first %q", status, h.Get("Idempotent-Replayed"), again, first)
	}
}
