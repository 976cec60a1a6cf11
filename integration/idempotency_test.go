package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/redis/go-redis/v9"
)

// idempotencyStores runs a test against the gateway with each store: the
// memory store, and Redis under a key prefix of the test's own.
func idempotencyStores(t *testing.T, run func(t *testing.T)) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			loadCaddyfile(t, idempotencyConfig(t, store))
			run(t)
		})
	}
}

func idempotencyConfig(t *testing.T, store string) string {
	block := "idempotency"
	if store == "redis" {
		url, prefix := testRedisPrefix(t)
		block = fmt.Sprintf("idempotency redis {\n\t\t\turl %s\n\t\t\tprefix %s\n\t\t}", url, prefix)
	}
	return fmt.Sprintf(`
:%d {
	xjp_gateway {
		provider or openrouter {
			base_url %s/api/v1
			api_key %s
		}
		model gpt-test {
			primary or openai/gpt-4o
		}
		keys {
			key key-a1 tenant ta
			key key-a2 tenant ta
			key key-b tenant tb
		}
		%s
	}
}
`, ports.http, fake.srv.URL, providerKey, block)
}

// testRedisPrefix returns the test Redis (XJP_TEST_REDIS_URL) and a key
// prefix whose keys are deleted after the test. It fails when Redis
// cannot be reached.
func testRedisPrefix(t *testing.T) (url, prefix string) {
	t.Helper()
	url = os.Getenv("XJP_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("XJP_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opt)
	if err := client.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("Redis at %s is not reachable (start it, or set XJP_TEST_REDIS_URL): %v", url, err)
	}
	prefix = "xjp-it:" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := client.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = client.Del(ctx, keys...).Err()
		}
		if err != nil {
			t.Errorf("cleaning up %s*: %v", prefix, err)
		}
		client.Close()
	})
	return url, prefix
}

// countedAnswers answers each upstream call with a completion that says
// which call it was, so a re-run shows in the answer.
func countedAnswers(calls *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		serveJSON(200, fmt.Appendf(nil, `{"id":"gen-%d","object":"chat.completion","created":1733150400,"model":"openai/gpt-4o",
			"choices":[{"index":0,"message":{"role":"assistant","content":"answer %d"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`, n, n))(w, r)
	}
}

// chatWithKey posts an OpenAI chat body with an API key and an
// idempotency key ("" for none).
func chatWithKey(t *testing.T, apiKey, idemKey, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gatewayURL(ports.http)+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

const idemBody = `{"model":"gpt-test","messages":[{"role":"user","content":"Charge my card once"}]}`

func replayed(resp *http.Response) bool { return resp.Header.Get("Idempotent-Replayed") == "true" }

func TestIdempotentReplayOfAnAnswer(t *testing.T) {
	idempotencyStores(t, func(t *testing.T) {
		var calls atomic.Int32
		fake.reset(t, countedAnswers(&calls))
		key := rand.Text()
		first, body1 := chatWithKey(t, "key-a1", key, idemBody)
		second, body2 := chatWithKey(t, "key-a1", key, idemBody)
		if first.StatusCode != 200 || second.StatusCode != 200 || replayed(first) || !replayed(second) {
			t.Fatalf("statuses %d %d, replayed %v %v", first.StatusCode, second.StatusCode, replayed(first), replayed(second))
		}
		if !bytes.Equal(body1, body2) || !strings.Contains(string(body1), "answer 1") {
			t.Errorf("replayed\n%s\nwant\n%s", body2, body1)
		}
		if second.Header.Get("Content-Type") != "application/json" || second.Header.Get("X-Xjp-Provider") != "or" {
			t.Errorf("replayed headers %v", second.Header)
		}
		if got := second.Header.Get("X-Xjp-Original-Request-Id"); got != first.Header.Get("X-Request-Id") || got == second.Header.Get("X-Request-Id") {
			t.Errorf("original request id %q; first %q, second %q", got, first.Header.Get("X-Request-Id"), second.Header.Get("X-Request-Id"))
		}
		// Keys are scoped by tenant, not by API key: another key of the
		// same tenant gets the replay.
		third, body3 := chatWithKey(t, "key-a2", key, idemBody)
		if !replayed(third) || !bytes.Equal(body3, body1) {
			t.Errorf("another key of the tenant: replayed %v, %s", replayed(third), body3)
		}
		// Without a key, every request runs.
		_, b := chatWithKey(t, "key-a1", "", idemBody)
		if !strings.Contains(string(b), "answer 2") || calls.Load() != 2 {
			t.Errorf("without a key: %s after %d calls", b, calls.Load())
		}
	})
}

func TestIdempotentReplayOfAStream(t *testing.T) {
	idempotencyStores(t, func(t *testing.T) {
		var calls atomic.Int32
		sse := fixture(t, "openrouter_stream_with_comments.sse")
		fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			serveSSE(sse)(w, r)
		})
		key := rand.Text()
		body := `{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Write a haiku"}]}`
		first, events1 := chatWithKey(t, "key-a1", key, body)
		second, events2 := chatWithKey(t, "key-a1", key, body)
		if calls.Load() != 1 || replayed(first) || !replayed(second) {
			t.Fatalf("%d upstream calls; replayed %v %v", calls.Load(), replayed(first), replayed(second))
		}
		if !bytes.Equal(events1, events2) || !bytes.HasSuffix(events1, []byte("data: [DONE]\n\n")) {
			t.Errorf("replayed events differ:\n%s\nwant\n%s", events2, events1)
		}
		if second.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("replayed Content-Type %q", second.Header.Get("Content-Type"))
		}

		// The replay parses as a stream for the SDK too.
		client := openai.NewClient(option.WithBaseURL(gatewayURL(ports.http)+"/v1"), option.WithAPIKey("key-a1"),
			option.WithMaxRetries(0), option.WithHeader("Idempotency-Key", key))
		stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{},
			option.WithRequestBody("application/json", []byte(body)))
		acc := openai.ChatCompletionAccumulator{}
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil || acc.Choices[0].Message.Content != "Frost on the window,\nthe kettle hums a small song." {
			t.Errorf("SDK replay: %v, %+v", err, acc.Choices)
		}
		if calls.Load() != 1 {
			t.Errorf("%d upstream calls", calls.Load())
		}
	})
}

// TestIdempotentConcurrentDuplicates: twenty copies of one request sent
// at once make one upstream call, and all get its answer.
func TestIdempotentConcurrentDuplicates(t *testing.T) {
	idempotencyStores(t, func(t *testing.T) {
		const n = 20
		var calls atomic.Int32
		release := make(chan struct{})
		fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
			<-release
			countedAnswers(&calls)(w, r)
		})
		key := rand.Text()
		var sent sync.WaitGroup
		sent.Add(n)
		type result struct {
			status   int
			replayed bool
			body     []byte
		}
		results := make(chan result, n)
		for range n {
			go func() {
				var once sync.Once // the transport writes again on a fresh connection when a pooled one was closed
				ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
					WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(sent.Done) },
				})
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL(ports.http)+"/v1/chat/completions", strings.NewReader(idemBody))
				req.Header.Set("Authorization", "Bearer key-a1")
				req.Header.Set("Idempotency-Key", key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					results <- result{}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				results <- result{resp.StatusCode, replayed(resp), b}
			}()
		}
		sent.Wait() // every duplicate is at the gateway before the first answers
		close(release)
		var bodies [][]byte
		replays := 0
		for range n {
			r := <-results
			if r.status != 200 {
				t.Fatalf("a duplicate got %d: %s", r.status, r.body)
			}
			if r.replayed {
				replays++
			}
			bodies = append(bodies, r.body)
		}
		if calls.Load() != 1 || replays != n-1 {
			t.Fatalf("%d upstream calls and %d replays, want 1 and %d", calls.Load(), replays, n-1)
		}
		for _, b := range bodies {
			if !bytes.Equal(b, bodies[0]) {
				t.Fatalf("answers differ:\n%s\n%s", b, bodies[0])
			}
		}
	})
}

func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	idempotencyStores(t, func(t *testing.T) {
		var calls atomic.Int32
		fake.reset(t, countedAnswers(&calls))
		key := rand.Text()
		chatWithKey(t, "key-a1", key, idemBody)

		client := openai.NewClient(option.WithBaseURL(gatewayURL(ports.http)+"/v1"), option.WithAPIKey("key-a1"),
			option.WithMaxRetries(0), option.WithHeader("Idempotency-Key", key))
		_, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{Model: "gpt-test", Messages: userMessage("Charge my card twice")})
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 422 || apiErr.Code != "idempotency_key_reused" ||
			apiErr.Param != "Idempotency-Key" || !strings.Contains(apiErr.Message, "different request body") {
			t.Fatalf("err = %v", err)
		}

		// The same key from an Anthropic client is another request too.
		ac := newAnthropicClient(ports.http, "key-a1", anthropicoption.WithHeader("Idempotency-Key", key))
		_, err = ac.Messages.New(t.Context(), anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 10, Messages: userText("Charge my card once")})
		var antErr *anthropic.Error
		if !errors.As(err, &antErr) || antErr.StatusCode != 422 || antErr.Type() != "invalid_request_error" ||
			!strings.HasPrefix(antErr.Message, "Idempotency-Key: ") {
			t.Fatalf("Anthropic client: err = %v", err)
		}
		if calls.Load() != 1 {
			t.Errorf("%d upstream calls", calls.Load())
		}
	})
}

func TestIdempotencyKeysAreScopedByTenant(t *testing.T) {
	idempotencyStores(t, func(t *testing.T) {
		var calls atomic.Int32
		fake.reset(t, countedAnswers(&calls))
		key := rand.Text()
		_, a := chatWithKey(t, "key-a1", key, idemBody)
		respB, b := chatWithKey(t, "key-b", key, idemBody)
		if replayed(respB) || bytes.Equal(a, b) || !strings.Contains(string(b), "answer 2") {
			t.Fatalf("tenant b got tenant a's answer: replayed %v\n%s", replayed(respB), b)
		}
		respB, b2 := chatWithKey(t, "key-b", key, idemBody)
		if !replayed(respB) || !bytes.Equal(b, b2) {
			t.Errorf("tenant b's own retry: replayed %v\n%s", replayed(respB), b2)
		}
	})
}

// TestIdempotentFailuresAreNotStored: an upstream failure, whole or in
// the middle of a stream, is not replayed: the retry runs again.
func TestIdempotentFailuresAreNotStored(t *testing.T) {
	idempotencyStores(t, func(t *testing.T) {
		var calls atomic.Int32
		fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				serveJSON(500, []byte(`{"error":{"message":"Internal Server Error","code":500}}`))(w, r)
				return
			}
			calls.Add(-1)
			countedAnswers(&calls)(w, r)
		})
		key := rand.Text()
		first, _ := chatWithKey(t, "key-a1", key, idemBody)
		second, b := chatWithKey(t, "key-a1", key, idemBody)
		third, b3 := chatWithKey(t, "key-a1", key, idemBody)
		if first.StatusCode/100 == 2 || second.StatusCode != 200 || replayed(second) || !strings.Contains(string(b), "answer 2") {
			t.Fatalf("first %d, retry %d replayed %v: %s", first.StatusCode, second.StatusCode, replayed(second), b)
		}
		if !replayed(third) || !bytes.Equal(b, b3) {
			t.Errorf("the success was not stored: replayed %v", replayed(third))
		}

		broken := fixture(t, "openrouter_stream_midstream_error.sse")
		whole := fixture(t, "openrouter_stream_with_comments.sse")
		var streams atomic.Int32
		fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
			if streams.Add(1) == 1 {
				serveSSE(broken)(w, r)
				return
			}
			serveSSE(whole)(w, r)
		})
		key = rand.Text()
		body := `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Write a haiku"}]}`
		_, events := chatWithKey(t, "key-a1", key, body)
		if !strings.Contains(string(events), "Provider disconnected unexpectedly") {
			t.Fatalf("the first stream did not fail: %s", events)
		}
		retry, events := chatWithKey(t, "key-a1", key, body)
		if replayed(retry) || streams.Load() != 2 || !bytes.HasSuffix(events, []byte("data: [DONE]\n\n")) {
			t.Errorf("retry after a broken stream: replayed %v, %d streams: %s", replayed(retry), streams.Load(), events)
		}
	})
}

func TestIdempotencyWithTheAnthropicSDK(t *testing.T) {
	idempotencyStores(t, func(t *testing.T) {
		var calls atomic.Int32
		sse := fixture(t, "openrouter_stream_with_comments.sse")
		fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			serveSSE(sse)(w, r)
		})
		client := newAnthropicClient(ports.http, "key-a1", anthropicoption.WithHeader("Idempotency-Key", rand.Text()))
		params := anthropic.MessageNewParams{Model: "gpt-test", MaxTokens: 100, Messages: userText("Write a haiku")}
		var hdr1, hdr2 *http.Response
		m1, events1, err1 := streamMessage(t, client, params, anthropicoption.WithResponseInto(&hdr1))
		m2, events2, err2 := streamMessage(t, client, params, anthropicoption.WithResponseInto(&hdr2))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if calls.Load() != 1 || replayed(hdr1) || !replayed(hdr2) {
			t.Fatalf("%d upstream calls; replayed %v %v", calls.Load(), replayed(hdr1), replayed(hdr2))
		}
		if strings.Join(events1, ",") != strings.Join(events2, ",") || m1.ID != m2.ID || messageSummary(t, m1) != messageSummary(t, m2) {
			t.Errorf("replay differs: %v %v", events1, events2)
		}
		if hdr2.Header.Get("Request-Id") != hdr2.Header.Get("X-Request-Id") {
			t.Errorf("request-id %q is not this request's %q", hdr2.Header.Get("Request-Id"), hdr2.Header.Get("X-Request-Id"))
		}
	})
}

func TestIdempotencyKeyTooLong(t *testing.T) {
	loadCaddyfile(t, idempotencyConfig(t, "memory"))
	fake.reset(t, serveJSON(200, []byte(`{}`)))
	resp, b := chatWithKey(t, "key-a1", strings.Repeat("k", 256), idemBody)
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"param":"Idempotency-Key"`) || fake.count() != 0 {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
}

// TestIdempotentStreamIsFlushedEventByEvent: capturing a stream for
// replay does not hold its events back: the first arrives while the
// upstream still withholds the rest.
func TestIdempotentStreamIsFlushedEventByEvent(t *testing.T) {
	loadCaddyfile(t, idempotencyConfig(t, "memory"))
	chunk := func(content string) string {
		return `data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"` + content + `"},"finish_reason":null}]}` + "\n\n"
	}
	firstSeen := make(chan struct{})
	fake.reset(t, pausedStream(firstSeen, []byte(chunk("first")), []byte(chunk("second")+
		`data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\ndata: [DONE]\n\n")))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gatewayURL(ports.http)+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer key-a1")
	req.Header.Set("Idempotency-Key", rand.Text())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	var contents []string
	for {
		line, err := events.ReadString('\n')
		for _, w := range []string{"first", "second"} {
			if strings.Contains(line, `"content":"`+w+`"`) {
				contents = append(contents, w)
				if w == "first" {
					close(firstSeen) // only now does the upstream send the rest
				}
			}
		}
		if err != nil {
			break
		}
	}
	if strings.Join(contents, ",") != "first,second" {
		t.Errorf("contents = %v", contents)
	}
}
