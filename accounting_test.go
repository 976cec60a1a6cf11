package xjpgateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/xiaojinpro/xjp-gateway/auth"
	"github.com/xiaojinpro/xjp-gateway/handlers"
	openaiin "github.com/xiaojinpro/xjp-gateway/handlers/openai"
	"github.com/xiaojinpro/xjp-gateway/ratelimit"
	"github.com/xiaojinpro/xjp-gateway/routing"
	"github.com/xiaojinpro/xjp-gateway/unified"
	"github.com/xiaojinpro/xjp-gateway/usage"
)

type fakeAccounts struct {
	begun   int
	records []usage.Record
	used    int64
	err     error
}

func (f *fakeAccounts) Begin()                   { f.begun++ }
func (f *fakeAccounts) Record(rec *usage.Record) { f.records = append(f.records, *rec) }
func (f *fakeAccounts) TokensToday(context.Context, string) (int64, error) {
	return f.used, f.err
}

// namedDialect is the OpenAI dialect under another name, to check what
// is chosen by dialect name.
type namedDialect struct {
	openaiin.Dialect
	name string
}

func (d namedDialect) Name() string { return d.name }

func testGateway(rl *RateLimit, accounts usage.Accountant) *Gateway {
	return &Gateway{RateLimit: rl, limiters: &ratelimit.Registry{}, accounts: accounts, logger: zap.NewNop()}
}

func TestRateFor(t *testing.T) {
	for _, tc := range []struct {
		name             string
		rl               *RateLimit
		keyRPM           int
		wantRPM, wantBur int
	}{
		{"no limit anywhere", nil, 0, 0, 0},
		{"default only", &RateLimit{DefaultRPM: 60}, 0, 60, 60},
		{"default with burst", &RateLimit{DefaultRPM: 60, Burst: 10}, 0, 60, 10},
		{"the key's own limit wins", &RateLimit{DefaultRPM: 60, Burst: 10}, 600, 600, 10},
		{"the key's own limit without a block", nil, 30, 30, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := testGateway(tc.rl, nil)
			rpm, burst := g.rateFor(&call{key: &auth.Key{ID: "k", RateLimitRPM: tc.keyRPM}})
			if rpm != tc.wantRPM || burst != tc.wantBur {
				t.Errorf("rateFor = %d, %d; want %d, %d", rpm, burst, tc.wantRPM, tc.wantBur)
			}
		})
	}
}

func TestEnforceLimits(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)

	t.Run("rate limit", func(t *testing.T) {
		acc := &fakeAccounts{}
		g := testGateway(&RateLimit{DefaultRPM: 1, Burst: 1}, acc)
		key := &auth.Key{ID: "rate-limit-test"}
		c := &call{key: key, dialect: openaiin.Dialect{}}
		if err := g.enforceLimits(r, c); err != nil {
			t.Fatal(err)
		}
		c = &call{key: key, dialect: openaiin.Dialect{}}
		err := g.enforceLimits(r, c)
		if err == nil || err.Kind != unified.KindRateLimit || err.Code != "rate_limit_exceeded" || err.RetryAfter <= 0 || err.Status() != 429 {
			t.Fatalf("second request: %+v", err)
		}
		if acc.begun != 2 || !c.accounted {
			t.Errorf("begun %d accounted %v: refused requests are accounted too", acc.begun, c.accounted)
		}
	})

	t.Run("quota", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			used int64
			err  error
			want unified.Kind // 255: admitted
		}{
			{"under", 99, nil, 255},
			{"reached", 100, nil, unified.KindQuota},
			{"over", 150, nil, unified.KindQuota},
			{"unknown", 0, errors.New("database down"), unified.KindUnavailable},
		} {
			t.Run(tc.name, func(t *testing.T) {
				g := testGateway(nil, &fakeAccounts{used: tc.used, err: tc.err})
				err := g.enforceLimits(r, &call{key: &auth.Key{ID: "k", QuotaTokensDaily: 100}, dialect: openaiin.Dialect{}})
				if tc.want == 255 {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				if err == nil || err.Kind != tc.want {
					t.Fatalf("err = %+v, want kind %d", err, tc.want)
				}
				if tc.want == unified.KindQuota {
					untilMidnight := time.Until(time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour))
					if err.Code != "insufficient_quota" || err.RetryAfter <= 0 || err.RetryAfter > untilMidnight+time.Second {
						t.Errorf("quota error %+v", err)
					}
				}
			})
		}
	})

	t.Run("no quota without a ledger", func(t *testing.T) {
		g := testGateway(nil, nil)
		if err := g.enforceLimits(r, &call{key: &auth.Key{ID: "k", QuotaTokensDaily: 1}}); err != nil {
			t.Fatal(err)
		}
	})
}

// The rate-limit headers follow the caller's dialect.
func TestLimitHeadersByDialect(t *testing.T) {
	g := testGateway(&RateLimit{DefaultRPM: 60, Burst: 5}, nil)
	for _, tc := range []struct {
		dialect      handlers.Dialect
		want, absent string
	}{
		{openaiin.Dialect{}, "X-Ratelimit-Remaining-Requests", "Anthropic-Ratelimit-Requests-Remaining"},
		{namedDialect{name: "anthropic"}, "Anthropic-Ratelimit-Requests-Remaining", "X-Ratelimit-Remaining-Requests"},
	} {
		c := &call{key: &auth.Key{ID: "headers-" + tc.dialect.Name()}, dialect: tc.dialect}
		err := g.enforceLimits(httptest.NewRequest(http.MethodPost, "/", nil), c)
		w := httptest.NewRecorder()
		g.setLimitHeaders(w, c, err)
		if w.Header().Get(tc.want) != "4" || w.Header().Get(tc.absent) != "" {
			t.Errorf("%s: headers %v", tc.dialect.Name(), w.Header())
		}
	}
	w := httptest.NewRecorder()
	g.setLimitHeaders(w, &call{}, &unified.Error{Kind: unified.KindQuota})
	if w.Header().Get("X-Should-Retry") != "false" {
		t.Error("an exhausted quota does not forbid retries")
	}
}

func TestMeteredStream(t *testing.T) {
	c := &call{start: time.Now().Add(-time.Second)}
	s := meter(c, &unified.SliceStream{Events: []unified.Event{
		{Type: unified.EventStart},
		{Type: unified.EventText, Text: ""},
		{Type: unified.EventText, Text: "Hello "},
		{Type: unified.EventToolCallStart, Name: "get"},
		{Type: unified.EventToolCallDelta, Text: "{}"},
		{Type: unified.EventUsage, Usage: unified.Usage{OutputTokens: 3}},
	}})
	for i := 0; ; i++ {
		_, err := s.Next()
		if i < 2 && c.ttft != 0 {
			t.Fatalf("ttft set by event %d, before any token", i)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if c.ttft < time.Second || c.produced != len("Hello ")+len("get")+len("{}") || !c.upstreamEnded {
		t.Errorf("ttft %v produced %d ended %v", c.ttft, c.produced, c.upstreamEnded)
	}
}

func TestAccountRecords(t *testing.T) {
	start := time.Now().Add(-50 * time.Millisecond)
	key := &auth.Key{ID: "0f8fad5b-d9cb-469f-a165-70867728950e", Tenant: "acme"}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	req := func(stream bool) *unified.Request {
		return &unified.Request{Model: "m", Stream: stream,
			Messages: []unified.Message{{Role: unified.RoleUser, Content: []unified.Part{unified.Text("hi")}}}}
	}
	route := routing.Route{Provider: "p", Model: "up"}
	for _, tc := range []struct {
		name                       string
		c                          call
		status, prompt, completion int
	}{
		{"whole answer", call{req: req(false), route: route, attempts: 1, usage: unified.Usage{InputTokens: 10, OutputTokens: 4}},
			200, 10, 4},
		{"complete stream", call{req: req(true), route: route, upstreamEnded: true, ttft: time.Millisecond, produced: 40,
			usage: unified.Usage{InputTokens: 10, OutputTokens: 7}}, 200, 10, 7},
		{"stream whose client left", call{req: req(true), route: route, produced: 22, ctx: cancelled}, 499, 5, 6},
		{"stream broken upstream", call{req: req(true), route: route, produced: 22, usage: unified.Usage{InputTokens: 9},
			err: &unified.Error{Kind: unified.KindUpstream}}, 502, 9, 6},
		{"upstream call cancelled by the client", call{req: req(false), route: route, ctx: cancelled,
			err: &unified.Error{Kind: unified.KindTimeout}}, 499, 0, 0},
		{"upstream timeout", call{req: req(false), route: route, ctx: context.Background(),
			err: &unified.Error{Kind: unified.KindTimeout}}, 504, 0, 0},
		{"refused at admission", call{err: &unified.Error{Kind: unified.KindRateLimit}}, 429, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := &fakeAccounts{}
			g := testGateway(nil, acc)
			c := tc.c
			c.id, c.start, c.key, c.dialect, c.accounted = "req-1", start, key, openaiin.Dialect{}, true
			g.account(&c)
			if len(acc.records) != 1 {
				t.Fatalf("%d records", len(acc.records))
			}
			r := acc.records[0]
			if r.Status != tc.status || r.PromptTokens != tc.prompt || r.CompletionTokens != tc.completion {
				t.Errorf("status %d prompt %d completion %d; want %d %d %d",
					r.Status, r.PromptTokens, r.CompletionTokens, tc.status, tc.prompt, tc.completion)
			}
			if r.RequestID != "req-1" || r.Tenant != "acme" || r.KeyID != key.ID || r.Dialect != "openai" ||
				r.Latency < 50*time.Millisecond || r.TTFT != c.ttft || !r.Time.Equal(start) {
				t.Errorf("record %+v", r)
			}
		})
	}
	acc := &fakeAccounts{}
	testGateway(nil, acc).account(&call{key: key})
	if len(acc.records) != 0 {
		t.Error("a request never begun was recorded")
	}
}
