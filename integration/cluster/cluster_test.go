package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
	"github.com/xiaojinpro/xjp-gateway/internal/redistest"
)

// estimateOutput is the answer reservation of requests without
// max_tokens in the instances' configuration.
const estimateOutput = 10

// TestCluster starts three instances on one schema and one Redis prefix
// (a few seconds under -race) and runs the cross-instance checks on them.
func TestCluster(t *testing.T) {
	dsn := pgtest.Migrated(t)
	_, prefix := redistest.Client(t)
	admin := pgtest.Connect(t, dsn)
	// gateway-2 reaches the rate-limit store through a proxy that can
	// take Redis away from it.
	proxy, proxied := redistest.Proxy(t)

	var insts []*instance
	for i := range 3 {
		name := fmt.Sprintf("gateway-%d", i)
		storeURL := redistest.URL()
		if i == 2 {
			storeURL = proxied
		}
		insts = append(insts, startInstance(t, name, fmt.Sprintf(`
		provider echo echo
		model echo-1 {
			primary echo
		}
		auth postgres {
			dsn "%s"
			usage {
				flush_interval 20ms
			}
		}
		rate_limit {
			estimate_output %d
			store redis %s {
				prefix %srl:
				on_failure closed
			}
		}
		idempotency redis {
			url %s
			prefix %sidem:
		}`, pgtest.WithParam(dsn, "application_name", name), estimateOutput,
			storeURL, prefix, redistest.URL(), prefix)))
	}
	c := &cluster{t: t, insts: insts, admin: admin, proxy: proxy}

	t.Run("RateLimit", c.testRateLimit)
	t.Run("Quota", c.testQuota)
	t.Run("QuotaWithoutMaxTokens", c.testQuotaWithoutMaxTokens)
	t.Run("Revocation", c.testRevocation)
	t.Run("Idempotency", c.testIdempotency)
	t.Run("RedisFailure", c.testRedisFailure)
}

type cluster struct {
	t     *testing.T
	insts []*instance
	admin *pgx.Conn
	proxy *pgtest.Proxy // between gateway-2 and its rate-limit store
}

func (c *cluster) createKey(t *testing.T, spec postgres.KeySpec) *postgres.NewKey {
	t.Helper()
	spec.Tenant = "acme"
	k, err := postgres.CreateKey(context.Background(), c.admin, postgres.Hasher{}, spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// reply is an answer of an instance.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// errorCode is the code of an OpenAI error body.
func (r reply) errorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// chat sends a chat request to an instance. text is the user message;
// maxTokens 0 leaves max_tokens out.
func chat(t *testing.T, inst *instance, secret, text string, maxTokens int, header ...string) reply {
	t.Helper()
	body := fmt.Sprintf(`{"model":"echo-1","messages":[{"role":"user","content":%q}]}`, text)
	if maxTokens > 0 {
		body = fmt.Sprintf(`{"model":"echo-1","max_tokens":%d,"messages":[{"role":"user","content":%q}]}`, maxTokens, text)
	}
	req, _ := http.NewRequest(http.MethodPost, inst.url()+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
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
	return reply{resp.StatusCode, resp.Header, b}
}

// burst sends n requests, spread round robin over the instances, from
// workers concurrent clients, and returns the answers.
func (c *cluster) burst(t *testing.T, n, workers int, send func(inst *instance) reply) []reply {
	t.Helper()
	replies := make([]reply, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				replies[i] = send(c.insts[i%len(c.insts)])
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return replies
}

// A key limited to N requests per minute gets N across the three
// instances, however its requests are spread.
func (c *cluster) testRateLimit(t *testing.T) {
	const n = 10
	k := c.createKey(t, postgres.KeySpec{RPM: n}) // a burst of 10, then one every 6s
	replies := c.burst(t, 3*n, 6, func(inst *instance) reply { return chat(t, inst, k.Secret, "hi", 0) })
	accepted := 0
	for _, r := range replies {
		switch {
		case r.status == 200:
			accepted++
		case r.status != 429 || r.errorCode() != "rate_limit_exceeded" || r.header.Get("Retry-After") == "":
			t.Errorf("a refusal: %d %s %v", r.status, r.body, r.header)
		}
	}
	// One more than N only if the burst took over 6s and a request came back.
	if accepted < n-1 || accepted > n+1 {
		t.Errorf("%d of %d requests accepted across 3 instances; want %d (±1)", accepted, len(replies), n)
	}
	t.Logf("%d of %d accepted", accepted, len(replies))
}

// prompt is a user message the echo provider answers with itself: 400
// bytes, estimated at 4 + 100 prompt tokens, and answered with 100
// tokens (fewer if max_tokens cuts it).
var prompt = strings.Repeat("abcd", 100)

// usedTokens waits until the durable ledger has a usage row for each of
// the key's n requests, and returns their tokens and the key's daily
// counter.
func (c *cluster) usedTokens(t *testing.T, keyID string, n int) (rows, counter int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard
	for {
		var count int64
		err := c.admin.QueryRow(context.Background(),
			`SELECT count(*), coalesce(sum(prompt_tokens + completion_tokens), 0) FROM usage_logs WHERE key_id = $1::text::uuid`,
			keyID).Scan(&count, &rows)
		if err != nil {
			t.Fatal(err)
		}
		if count >= int64(n) {
			err := c.admin.QueryRow(context.Background(),
				`SELECT coalesce(sum(tokens), 0) FROM key_daily_tokens WHERE key_id = $1::text::uuid`, keyID).Scan(&counter)
			if err != nil {
				t.Fatal(err)
			}
			if counter == rows {
				return rows, counter
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ledger has %d of %d usage rows (%d tokens), counter %d", count, n, rows, counter)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With max_tokens set, a reservation covers what the request may use:
// the quota is never exceeded (the documented bound is 0), and unused
// reservations come back, so the quota can be spent to within one
// request.
func (c *cluster) testQuota(t *testing.T) {
	const quota = 3000
	const maxTokens = 150
	const est = 4 + 100 + maxTokens // prompt estimate + max_tokens; each really uses 204
	k := c.createKey(t, postgres.KeySpec{QuotaDaily: quota})
	send := func(inst *instance) reply { return chat(t, inst, k.Secret, prompt, maxTokens) }
	replies := c.burst(t, 30, 6, send)
	// Then one at a time until refused: what the burst reserved and did
	// not use must have come back.
	for i := 0; ; i++ {
		r := send(c.insts[i%3])
		replies = append(replies, r)
		if r.status != 200 {
			break
		}
	}
	for _, r := range replies {
		if r.status != 200 && (r.status != 429 || r.errorCode() != "insufficient_quota") {
			t.Errorf("a refusal: %d %s", r.status, r.body)
		}
	}
	used, counter := c.usedTokens(t, k.ID, len(replies))
	t.Logf("quota %d: %d tokens used (counter %d) by %d requests", quota, used, counter, len(replies))
	if used > quota {
		t.Errorf("%d tokens used: the quota of %d was exceeded", used, quota)
	}
	if used <= quota-est {
		t.Errorf("%d tokens used: a request of %d more would have fitted in the quota of %d", used, est, quota)
	}
}

// Without max_tokens, a request reserves its prompt and estimate_output
// tokens, and may use more: the quota is exceeded by at most the excess
// of the requests in flight (admitted, not yet reconciled) when it ran
// out. A request is reconciled as its handler ends, just after its
// answer is written, so each of C clients has one request in flight and
// at most, in practice, one more being reconciled: the bound checked is
// 2C × (largest answer − estimate_output).
func (c *cluster) testQuotaWithoutMaxTokens(t *testing.T) {
	const quota = 3000
	const workers = 6
	const excess = 100 - estimateOutput // each answer is 100 tokens
	k := c.createKey(t, postgres.KeySpec{QuotaDaily: quota})
	replies := c.burst(t, 40, workers, func(inst *instance) reply { return chat(t, inst, k.Secret, prompt, 0) })
	refused := 0
	for _, r := range replies {
		if r.status != 200 {
			refused++
			if r.status != 429 || r.errorCode() != "insufficient_quota" {
				t.Errorf("a refusal: %d %s", r.status, r.body)
			}
		}
	}
	used, _ := c.usedTokens(t, k.ID, len(replies))
	bound := int64(quota + 2*workers*excess)
	t.Logf("quota %d: %d tokens used, %d requests refused; bound %d", quota, used, refused, bound)
	if used > bound {
		t.Errorf("%d tokens used: more than the bound %d + 2 × %d × %d", used, quota, workers, excess)
	}
	if refused == 0 {
		t.Error("no request was refused: the quota was not enforced")
	}
}

// A key revoked in the database is refused by all three instances
// within a second (each learns it by LISTEN/NOTIFY).
func (c *cluster) testRevocation(t *testing.T) {
	deadline := time.Now().Add(30 * time.Second)
	for i := range c.insts {
		app := fmt.Sprintf("gateway-%d", i)
		for {
			var n int
			err := c.admin.QueryRow(context.Background(),
				`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'listen %'`, app).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the listener of %s did not connect", app)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	k := c.createKey(t, postgres.KeySpec{})
	for _, inst := range c.insts {
		if r := chat(t, inst, k.Secret, "hi", 0); r.status != 200 {
			t.Fatalf("before the revocation: %d %s", r.status, r.body)
		}
	}
	if _, err := postgres.RevokeKey(context.Background(), c.admin, postgres.Hasher{}, k.ID); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for i, inst := range c.insts {
		for {
			r := chat(t, inst, k.Secret, "hi", 0)
			if r.status == 401 {
				t.Logf("gateway-%d refuses the key %v after the revocation", i, time.Since(revoked))
				break
			}
			if time.Since(revoked) > time.Second {
				t.Fatalf("gateway-%d still accepts the revoked key after 1s (status %d)", i, r.status)
			}
		}
	}
}

// An idempotency key used on one instance replays on another.
func (c *cluster) testIdempotency(t *testing.T) {
	k := c.createKey(t, postgres.KeySpec{})
	first := chat(t, c.insts[0], k.Secret, "once only", 0, "Idempotency-Key", "cluster-1")
	if first.status != 200 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v %s", first.status, first.header, first.body)
	}
	for _, inst := range c.insts[1:] {
		again := chat(t, inst, k.Secret, "once only", 0, "Idempotency-Key", "cluster-1")
		if again.status != 200 || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
			t.Errorf("on port %d: %d %v %s", inst.port, again.status, again.header, again.body)
		}
	}
	other := chat(t, c.insts[2], k.Secret, "another body", 0, "Idempotency-Key", "cluster-1")
	if other.status != 422 {
		t.Errorf("the key with another body on another instance: %d %s", other.status, other.body)
	}
}

// With on_failure closed, an instance that cannot reach Redis refuses
// limited keys with 503 in the caller's dialect, while the others carry
// on; once Redis is back it admits them again.
func (c *cluster) testRedisFailure(t *testing.T) {
	k := c.createKey(t, postgres.KeySpec{RPM: 1000})
	cut := c.insts[2]
	if r := chat(t, cut, k.Secret, "hi", 0); r.status != 200 {
		t.Fatalf("before the cut: %d %s", r.status, r.body)
	}
	c.proxy.Stop()
	r := chat(t, cut, k.Secret, "hi", 0)
	if r.status != 503 || r.errorCode() != "service_unavailable" || !strings.Contains(string(r.body), "rate limits") {
		t.Errorf("OpenAI client, Redis cut: %d %s", r.status, r.body)
	}
	req, _ := http.NewRequest(http.MethodPost, cut.url()+"/v1/messages",
		strings.NewReader(`{"model":"echo-1","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("X-Api-Key", k.Secret)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ae struct {
		Type  string `json:"type"`
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	if resp.StatusCode != 503 || json.Unmarshal(body, &ae) != nil || ae.Type != "error" || ae.Error.Type == "" {
		t.Errorf("Anthropic client, Redis cut: %d %s", resp.StatusCode, body)
	}
	if r := chat(t, c.insts[0], k.Secret, "hi", 0); r.status != 200 {
		t.Errorf("an instance that reaches Redis: %d %s", r.status, r.body)
	}

	c.proxy.Start()
	deadline := time.Now().Add(30 * time.Second) // a hang guard
	for {
		r := chat(t, cut, k.Secret, "hi", 0)
		if r.status == 200 {
			break
		}
		if r.status != 503 || time.Now().After(deadline) {
			t.Fatalf("after Redis came back: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
