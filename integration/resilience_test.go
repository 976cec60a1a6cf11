package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	oaioption "github.com/openai/openai-go/v3/option"
)

// The resilience tests run one gateway whose providers all point at the
// shared fake, each under its own path prefix, so that a test programs
// every upstream with one handler and counts calls per provider.
func resilienceConfig() string {
	return fmt.Sprintf(`
:%[4]d {
	header >X-Attempts {http.xjp_gateway.attempts}
	header >X-Fallback {http.xjp_gateway.fallback}
	xjp_gateway {
		provider or openrouter {
			base_url %[1]s/api/v1
			api_key %[2]s
		}
		provider or2 openrouter {
			base_url %[1]s/or2/api/v1
			api_key %[2]s
		}
		provider ant anthropic {
			base_url %[1]s/anthropic
			api_key %[3]s
		}
		provider hang openrouter {
			base_url %[1]s/hang/api/v1
			api_key %[2]s
			timeouts {
				first_byte 100ms
			}
		}
		provider silent openrouter {
			base_url %[1]s/silent/api/v1
			api_key %[2]s
			timeouts {
				first_byte 30s
				stream_idle 100ms
			}
		}
		provider silentant anthropic {
			base_url %[1]s/anthropic
			api_key %[3]s
			timeouts {
				first_byte 30s
				stream_idle 100ms
			}
		}
		provider brk openrouter {
			base_url %[1]s/brk/api/v1
			api_key %[2]s
			breaker {
				failures 2
				cooldown 100ms
			}
		}
		provider echo echo
		model retried {
			primary or openai/gpt-4o
		}
		model hung {
			primary hang openai/gpt-4o
			retry {
				attempts 2
			}
		}
		model hung-then-echo {
			primary hang openai/gpt-4o
			fallback echo echo-1
			retry {
				attempts 1
			}
		}
		model silent {
			primary silent openai/gpt-4o
		}
		model silent-claude {
			primary silentant claude-sonnet-4-5
		}
		model guarded {
			primary brk openai/gpt-4o
			fallback echo echo-1
			retry {
				attempts 1
			}
		}
		model gpt-then-claude {
			primary or openai/gpt-4o
			fallback ant claude-sonnet-4-5
			retry {
				attempts 1
			}
		}
		model claude-then-echo {
			primary ant claude-sonnet-4-5
			fallback echo echo-1
			retry {
				attempts 1
			}
		}
		model balanced {
			primary or openai/gpt-4o weight 3
			primary or2 openai/gpt-4o
			retry {
				attempts 1
			}
		}
		keys {
			key key-all tenant t1
		}
		retry {
			attempts 3
			backoff 1ms 4ms
		}
	}
}
`, fake.srv.URL, providerKey, anthropicKey, ports.http)
}

func resilienceClients(t *testing.T) (openai.Client, anthropic.Client) {
	t.Helper()
	loadCaddyfile(t, resilienceConfig())
	return openai.NewClient(oaioption.WithBaseURL(gatewayURL(ports.http)+"/v1"), oaioption.WithAPIKey("key-all"), oaioption.WithMaxRetries(0)),
		newAnthropicClient(ports.http, "key-all")
}

// calls counts the requests the fake received under a path prefix.
func (u *upstream) calls(prefix string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, r := range u.requests {
		if strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// byPrefix dispatches the fake's requests by path prefix; other paths get
// a 418 the test will notice.
func byPrefix(routes map[string]http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for prefix, h := range routes {
			if strings.HasPrefix(r.URL.Path, prefix) {
				h(w, r)
				return
			}
		}
		http.Error(w, "unexpected path "+r.URL.Path, http.StatusTeapot)
	}
}

// sequence answers the n-th call with the n-th handler, and the last
// handler ever after.
func sequence(hs ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hs[min(n, len(hs)-1)]
		n++
		mu.Unlock()
		h(w, r)
	}
}

// hangUntilCancelled never answers; it reports on cancelled when the
// gateway gives up on the call.
func hangUntilCancelled(cancelled chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(20 * time.Second):
		}
	}
}

// goSilent sends first as an event stream, then nothing until the call
// is cancelled.
func goSilent(first string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = fmt.Fprint(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}
}

// dropAfter sends first as an event stream, then drops the connection.
func dropAfter(first string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = fmt.Fprint(w, first)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

const (
	orAnswer = `{"id":"gen-1","object":"chat.completion","created":1733150400,"model":"openai/gpt-4o",
		"choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour!"},"finish_reason":"stop"}],
		"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}`
	antAnswer = `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5",
		"content":[{"type":"text","text":"Salut !"}],"stop_reason":"end_turn","stop_sequence":null,
		"usage":{"input_tokens":12,"output_tokens":4}}`
	or503 = `{"error":{"code":503,"message":"No instances available"}}`
	or502 = `{"error":{"code":502,"message":"Upstream error"}}`
)

func orChunk(content string) string {
	return `data: {"id":"gen-2","object":"chat.completion.chunk","created":1,"model":"openai/gpt-4o","choices":[{"index":0,"delta":{"content":"` +
		content + `"},"finish_reason":null}]}` + "\n\n"
}

// antStart is the beginning of a Messages stream: message_start, a text
// block and its first delta.
const antStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n" +
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Once upon\"}}\n\n"

func chatText(t *testing.T, client openai.Client, model string, stream bool) (string, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	params := openai.ChatCompletionNewParams{Model: model, Messages: userMessage("hi")}
	var resp *http.Response
	if !stream {
		c, err := client.Chat.Completions.New(ctx, params, oaioption.WithResponseInto(&resp))
		if err != nil {
			return "", resp, err
		}
		return c.Choices[0].Message.Content, resp, nil
	}
	s := client.Chat.Completions.NewStreaming(ctx, params, oaioption.WithResponseInto(&resp))
	defer s.Close()
	var text strings.Builder
	for s.Next() {
		if c := s.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	return text.String(), resp, s.Err()
}

func messageText(t *testing.T, client anthropic.Client, model string, stream bool) (string, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	params := anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 64, Messages: userText("hi")}
	var resp *http.Response
	var msg *anthropic.Message
	var err error
	if stream {
		s := client.Messages.NewStreaming(ctx, params, option.WithResponseInto(&resp))
		defer s.Close()
		msg = &anthropic.Message{}
		for s.Next() {
			if aerr := msg.Accumulate(s.Current()); aerr != nil {
				t.Fatalf("Accumulate: %v", aerr)
			}
		}
		err = s.Err()
	} else {
		msg, err = client.Messages.New(ctx, params, option.WithResponseInto(&resp))
	}
	var text strings.Builder
	if msg != nil {
		for _, c := range msg.Content {
			text.WriteString(c.Text)
		}
	}
	return text.String(), resp, err
}

func wantRoute(t *testing.T, resp *http.Response, provider, attempts, fallback string) {
	t.Helper()
	if resp == nil {
		t.Fatal("no response")
	}
	if got := resp.Header.Get("X-Xjp-Provider"); got != provider {
		t.Errorf("X-Xjp-Provider = %q, want %q", got, provider)
	}
	if got := resp.Header.Get("X-Attempts"); got != attempts {
		t.Errorf("attempts = %q, want %q", got, attempts)
	}
	if got := resp.Header.Get("X-Fallback"); got != fallback {
		t.Errorf("fallback = %q, want %q", got, fallback)
	}
}

func TestRetry503TwiceThenSuccess(t *testing.T) {
	client, _ := resilienceClients(t)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			answer := serveJSON(200, []byte(orAnswer))
			want := "Bonjour!"
			if stream {
				answer, want = serveSSE(fixture(t, "openai_stream_text.sse")), "Frost on the window,\nthe kettle hums a small song."
			}
			fake.reset(t, sequence(serveJSON(503, []byte(or503)), serveJSON(503, []byte(or503)), answer))
			text, resp, err := chatText(t, client, "retried", stream)
			if err != nil {
				t.Fatal(err)
			}
			if text != want {
				t.Errorf("text = %q", text)
			}
			if n := fake.calls("/api/v1/"); n != 3 {
				t.Errorf("the upstream was called %d times, want exactly 3", n)
			}
			wantRoute(t, resp, "or", "3", "false")
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	client, _ := resilienceClients(t)
	var (
		mu    sync.Mutex
		times []time.Time
	)
	stamp := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			times = append(times, time.Now())
			mu.Unlock()
			h(w, r)
		}
	}
	fake.reset(t, stamp(sequence(
		serveJSON(429, fixture(t, "openai_error_429_rate_limit.json"), "Retry-After-Ms", "60"),
		serveJSON(200, []byte(orAnswer)))))
	if _, _, err := chatText(t, client, "retried", false); err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 {
		t.Fatalf("%d upstream calls, want 2", len(times))
	}
	// The retry waited at least what the upstream asked (backoff alone is
	// at most 4ms here).
	if gap := times[1].Sub(times[0]); gap < 60*time.Millisecond {
		t.Errorf("the retry came %v after the 429, before its Retry-After of 60ms", gap)
	}

	t.Run("beyond the retry budget", func(t *testing.T) {
		fake.reset(t, serveJSON(429, fixture(t, "openai_error_429_rate_limit.json"), "Retry-After", "3600"))
		_, _, err := chatText(t, client, "retried", false)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Response.Header.Get("Retry-After") != "3600" {
			t.Fatalf("err = %v", err)
		}
		if n := fake.calls("/api/v1/"); n != 1 {
			t.Errorf("an hour's Retry-After was waited for: %d calls", n)
		}
	})
}

func TestFirstByteTimeout(t *testing.T) {
	oc, ac := resilienceClients(t)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("openai stream=", stream), func(t *testing.T) {
			cancelled := make(chan struct{}, 4)
			fake.reset(t, hangUntilCancelled(cancelled))
			_, _, err := chatText(t, oc, "hung", stream)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 504 || apiErr.Code != "timeout" ||
				!strings.Contains(apiErr.Message, "provider hang sent no first byte within 100ms") {
				t.Fatalf("err = %v", err)
			}
			// Timeouts are retried (attempts 2), and each call was cancelled.
			for range 2 {
				<-cancelled
			}
			if n := fake.calls("/hang/"); n != 2 {
				t.Errorf("%d upstream calls, want 2", n)
			}
		})
		t.Run(fmt.Sprint("anthropic stream=", stream), func(t *testing.T) {
			fake.reset(t, hangUntilCancelled(make(chan struct{}, 4)))
			_, _, err := messageText(t, ac, "hung", stream)
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 504 || apiErr.Type() != "timeout_error" {
				t.Fatalf("err = %v", err)
			}
		})
	}
	t.Run("then the fallback serves", func(t *testing.T) {
		fake.reset(t, hangUntilCancelled(make(chan struct{}, 4)))
		text, resp, err := chatText(t, oc, "hung-then-echo", true)
		if err != nil || text != "hi" {
			t.Fatalf("text %q, err %v", text, err)
		}
		wantRoute(t, resp, "echo", "2", "true")
	})
}

func TestStreamIdleTimeout(t *testing.T) {
	oc, ac := resilienceClients(t)
	t.Run("openai client", func(t *testing.T) {
		fake.reset(t, goSilent(orChunk("Once")+orChunk(" upon")))
		text, resp, err := chatText(t, oc, "silent", true)
		if err == nil || !strings.Contains(err.Error(), "provider silent sent nothing for 100ms") {
			t.Fatalf("stream error = %v", err)
		}
		if text != "Once upon" {
			t.Errorf("text before the cut = %q", text)
		}
		if resp.StatusCode != 200 || fake.calls("/silent/") != 1 {
			t.Errorf("status %d after %d calls: a stream that began must not be retried", resp.StatusCode, fake.calls("/silent/"))
		}
	})
	t.Run("anthropic client, translated", func(t *testing.T) {
		fake.reset(t, goSilent(orChunk("Once")+orChunk(" upon")))
		text, _, err := messageText(t, ac, "silent", true)
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.Type() != "timeout_error" || !strings.Contains(apiErr.Message, "sent nothing for 100ms") {
			t.Fatalf("stream error = %v", err)
		}
		if text != "Once upon" {
			t.Errorf("text before the cut = %q", text)
		}
	})
	t.Run("anthropic client, passed through", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(goSilent(antStart)))
		text, _, err := messageText(t, ac, "silent-claude", true)
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.Type() != "timeout_error" || !strings.Contains(apiErr.Message, "provider silentant sent nothing") {
			t.Fatalf("stream error = %v", err)
		}
		if text != "Once upon" {
			t.Errorf("text before the cut = %q", text)
		}
	})
}

func TestStreamDroppedMidway(t *testing.T) {
	oc, ac := resilienceClients(t)
	t.Run("openai client", func(t *testing.T) {
		fake.reset(t, dropAfter(orChunk("Half")+orChunk(" a story")))
		text, _, err := chatText(t, oc, "retried", true)
		if err == nil || !strings.Contains(err.Error(), "broke off") {
			t.Fatalf("stream error = %v", err)
		}
		if text != "Half a story" {
			t.Errorf("text before the cut = %q", text)
		}
		if n := fake.calls("/api/v1/"); n != 1 {
			t.Errorf("a stream that began was retried: %d calls", n)
		}
	})
	t.Run("anthropic client", func(t *testing.T) {
		fake.reset(t, dropAfter(orChunk("Half")+orChunk(" a story")))
		text, _, err := messageText(t, ac, "retried", true)
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.Type() != "api_error" {
			t.Fatalf("stream error = %v", err)
		}
		if text != "Half a story" || fake.calls("/api/v1/") != 1 {
			t.Errorf("text %q after %d calls", text, fake.calls("/api/v1/"))
		}
	})
	t.Run("anthropic client, passed through", func(t *testing.T) {
		fake.reset(t, fakeAnthropic(dropAfter(antStart)))
		text, _, err := messageText(t, ac, "claude-then-echo", true)
		var apiErr *anthropic.Error
		if !errors.As(err, &apiErr) || apiErr.Type() != "api_error" {
			t.Fatalf("stream error = %v", err)
		}
		if text != "Once upon" {
			t.Errorf("text %q: the fallback must not take over a stream that began", text)
		}
	})
}

func TestBreakerOpensSkipsAndRecovers(t *testing.T) {
	client, _ := resilienceClients(t)
	var (
		mu      sync.Mutex
		healthy bool
	)
	fake.reset(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := healthy
		mu.Unlock()
		if ok {
			serveJSON(200, []byte(orAnswer))(w, r)
			return
		}
		serveJSON(500, []byte(`{"error":{"code":500,"message":"Internal Server Error"}}`))(w, r)
	})
	served := func() string {
		t.Helper()
		_, resp, err := chatText(t, client, "guarded", false)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("X-Xjp-Provider")
	}
	// Two failures open the breaker; the fallback serves each time.
	for i := range 3 {
		if p := served(); p != "echo" {
			t.Fatalf("request %d served by %q", i, p)
		}
	}
	if n := fake.calls("/brk/"); n != 2 {
		t.Fatalf("the upstream was called %d times; an open breaker must skip it", n)
	}

	mu.Lock()
	healthy = true
	mu.Unlock()
	// After the cooldown one probe goes through, succeeds and closes it.
	deadline := time.Now().Add(10 * time.Second)
	for served() != "brk" {
		if time.Now().After(deadline) {
			t.Fatal("the breaker never let a probe through")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := fake.calls("/brk/"); n != 3 {
		t.Errorf("%d upstream calls, want the two failures and one probe", n)
	}
	if p := served(); p != "brk" {
		t.Errorf("after a successful probe the route is still skipped (served by %q)", p)
	}
}

func TestFallbackAcrossProviderTypes(t *testing.T) {
	oc, ac := resilienceClients(t)
	openRouterDown := serveJSON(502, []byte(or502))
	for _, stream := range []bool{false, true} {
		claude := serveJSON(200, []byte(antAnswer))
		want := "Salut !"
		if stream {
			claude, want = serveSSEEvents(fixture(t, "anthropic_stream_text.sse")), "Frost on the window,\nthe kettle hums a small song."
		}
		t.Run(fmt.Sprint("openai client, openrouter to anthropic, stream=", stream), func(t *testing.T) {
			fake.reset(t, byPrefix(map[string]http.HandlerFunc{"/api/v1/": openRouterDown, "/anthropic/": fakeAnthropic(claude)}))
			text, resp, err := chatText(t, oc, "gpt-then-claude", stream)
			if err != nil || text != want {
				t.Fatalf("text %q, err %v", text, err)
			}
			wantRoute(t, resp, "ant", "2", "true")
		})
		t.Run(fmt.Sprint("anthropic client, openrouter to anthropic, stream=", stream), func(t *testing.T) {
			fake.reset(t, byPrefix(map[string]http.HandlerFunc{"/api/v1/": openRouterDown, "/anthropic/": fakeAnthropic(claude)}))
			text, resp, err := messageText(t, ac, "gpt-then-claude", stream)
			if err != nil || text != want {
				t.Fatalf("text %q, err %v", text, err)
			}
			wantRoute(t, resp, "ant", "2", "true")
			// The Anthropic route still gets the client's own body, although
			// a translated attempt came first.
			fake.mu.Lock()
			last := fake.requests[len(fake.requests)-1]
			fake.mu.Unlock()
			wantBody := map[string]any{"model": "claude-sonnet-4-5", "max_tokens": float64(64),
				"messages": []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "hi"}}}}}
			if stream {
				wantBody["stream"] = true
			}
			if !reflect.DeepEqual(last.Body, wantBody) {
				t.Errorf("anthropic upstream body = %v", last.Body)
			}
		})
		t.Run(fmt.Sprint("anthropic client, anthropic to echo, stream=", stream), func(t *testing.T) {
			fake.reset(t, fakeAnthropic(serveJSON(529, fixture(t, "anthropic_error_529.json"))))
			text, resp, err := messageText(t, ac, "claude-then-echo", stream)
			if err != nil || text != "hi" {
				t.Fatalf("text %q, err %v", text, err)
			}
			wantRoute(t, resp, "echo", "2", "true")
		})
		t.Run(fmt.Sprint("openai client, anthropic to echo, stream=", stream), func(t *testing.T) {
			fake.reset(t, fakeAnthropic(serveJSON(529, fixture(t, "anthropic_error_529.json"))))
			text, resp, err := chatText(t, oc, "claude-then-echo", stream)
			if err != nil || text != "hi" {
				t.Fatalf("text %q, err %v", text, err)
			}
			wantRoute(t, resp, "echo", "2", "true")
		})
	}
}

func TestWeightedPrimaries(t *testing.T) {
	client, _ := resilienceClients(t)
	fake.reset(t, serveJSON(200, []byte(orAnswer)))
	served := map[string]int{}
	for range 40 {
		_, resp, err := chatText(t, client, "balanced", false)
		if err != nil {
			t.Fatal(err)
		}
		served[resp.Header.Get("X-Xjp-Provider")]++
	}
	// Smooth weighted round-robin: exactly 3:1 over any multiple of 4.
	if served["or"] != 30 || served["or2"] != 10 || fake.calls("/or2/") != 10 {
		t.Errorf("served = %v", served)
	}

	t.Run("the other primary takes over a failing one", func(t *testing.T) {
		fake.reset(t, byPrefix(map[string]http.HandlerFunc{"/or2/": serveJSON(503, []byte(or503)), "/api/v1/": serveJSON(200, []byte(orAnswer))}))
		for range 8 {
			_, resp, err := chatText(t, client, "balanced", false)
			if err != nil {
				t.Fatal(err)
			}
			if p := resp.Header.Get("X-Xjp-Provider"); p != "or" {
				t.Fatalf("served by %q", p)
			}
		}
		if n := fake.calls("/or2/"); n != 2 {
			t.Errorf("or2 was tried %d times in 8 requests, want its share, 2", n)
		}
	})
}
