package metrics

import (
	"strconv"
	"time"
)

// Request is what the metrics learn of one chat request when it ends.
type Request struct {
	Model    string // public model name; empty when none was resolved
	Provider string // provider that served or last failed; empty when none was called
	Tenant   string // empty when the tenant label is off or the caller is unknown
	Status   int    // HTTP status of the answer; 499 when the client left
	Stream   bool

	Duration time.Duration // arrival to end of answer
	Overhead time.Duration // Duration minus the time spent waiting on providers
	TTFT     time.Duration // streams: arrival to first token; 0 when none came

	PromptTokens, CompletionTokens, CachedTokens int
}

// ObserveRequest counts a finished chat request.
func ObserveRequest(r *Request) {
	requests.WithLabelValues(r.Model, r.Provider, r.Tenant, statusText(r.Status)).Inc()
	duration.WithLabelValues(r.Model, r.Provider).Observe(r.Duration.Seconds())
	overhead.Observe(max(r.Overhead, 0).Seconds())
	if r.Stream && r.TTFT > 0 {
		ttft.WithLabelValues(r.Model, r.Provider).Observe(r.TTFT.Seconds())
	}
	if r.PromptTokens > 0 {
		tokens.WithLabelValues(r.Model, r.Tenant, "prompt").Add(float64(r.PromptTokens))
	}
	if r.CompletionTokens > 0 {
		tokens.WithLabelValues(r.Model, r.Tenant, "completion").Add(float64(r.CompletionTokens))
	}
	if r.CachedTokens > 0 {
		tokens.WithLabelValues(r.Model, r.Tenant, "cached").Add(float64(r.CachedTokens))
	}
}

// ObserveAttempt counts one call of a provider for a public model. try
// counts the calls of that route in the request, from 1; fallback says
// the route is not the first the request planned.
func ObserveAttempt(model, provider string, try int, fallback, ok bool) {
	outcome := "error"
	if ok {
		outcome = "ok"
	}
	attempts.WithLabelValues(model, provider, outcome).Inc()
	switch {
	case try > 1:
		retries.WithLabelValues(model, provider).Inc()
	case fallback:
		fallbacks.WithLabelValues(model, provider).Inc()
	}
}

// RateLimited counts a request refused by its key's rate limit.
func RateLimited(tenant string) { rateLimited.WithLabelValues(tenant).Inc() }

// QuotaRejected counts a request refused by its key's daily quota.
func QuotaRejected(tenant string) { quotaRejected.WithLabelValues(tenant).Inc() }

// RequestStarted and RequestEnded bracket a chat request.
func RequestStarted() { inFlight.Inc() }

// RequestEnded ends what RequestStarted began.
func RequestEnded() { inFlight.Dec() }

// StreamStarted and StreamEnded bracket the relay of a streamed answer.
func StreamStarted() { streams.Inc() }

// StreamEnded ends what StreamStarted began.
func StreamEnded() { streams.Dec() }

// statusTexts are the status labels, formatted once.
var statusTexts = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusText(status int) string {
	if status >= 0 && status < len(statusTexts) {
		return statusTexts[status]
	}
	return strconv.Itoa(status)
}
