package gemini

import (
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/xiaojinpro/xjp-gateway/connectors"
	"github.com/xiaojinpro/xjp-gateway/unified"
)

// upstreamError normalizes a non-200 answer. Google's body is
// {"error":{"code","message","status","details"}}, sometimes wrapped in an
// array.
func (e *engine) upstreamError(status int, body []byte, h http.Header) *unified.Error {
	var env struct {
		Error *googleError `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		var arr []struct {
			Error *googleError `json:"error"`
		}
		if json.Unmarshal(body, &arr) == nil && len(arr) > 0 {
			env.Error = arr[0].Error
		}
	}
	g := env.Error
	if g == nil {
		g = &googleError{}
	}
	return e.statusError(status, g, h)
}

// statusError classifies a Google error by HTTP status (the error's own
// code inside a stream), refined by its status string and details.
func (e *engine) statusError(status int, g *googleError, h http.Header) *unified.Error {
	if status == 0 {
		status = g.Code
	}
	if status == 0 {
		status = http.StatusBadGateway
	}
	ue := connectors.StatusError(e.name, status, e.scrubbed(g.Message), h, e.key())
	switch {
	case g.Status == "UNAUTHENTICATED" || g.Status == "PERMISSION_DENIED" || g.hasReason("API_KEY_INVALID"):
		// The Gemini API answers a bad key with 400 INVALID_ARGUMENT; the
		// client must not read that as a fault of its own request or key.
		ue.Kind, ue.Retryable = unified.KindUpstream, false
		ue.Message = "provider " + e.name + " rejected the gateway's credentials"
	case g.Status == "FAILED_PRECONDITION":
		// Billing, region or API enablement of the gateway's project.
		ue.Kind, ue.Retryable = unified.KindUpstream, false
	case g.Status == "CANCELLED":
		ue.Kind, ue.Retryable = unified.KindUpstream, true
	}
	if ue.RetryAfter == 0 {
		ue.RetryAfter = g.retryDelay()
	}
	return ue
}

func (g *googleError) hasReason(reason string) bool {
	for _, d := range g.Details {
		if d.Reason == reason {
			return true
		}
	}
	return false
}

// retryDelay reads a google.rpc.RetryInfo detail ("retryDelay": "37s").
func (g *googleError) retryDelay() time.Duration {
	for _, d := range g.Details {
		if strings.HasSuffix(d.Type, "google.rpc.RetryInfo") && d.RetryDelay != "" {
			if dur, err := time.ParseDuration(d.RetryDelay); err == nil && dur > 0 {
				return dur
			}
		}
	}
	return 0
}

// googleToken matches Google OAuth access tokens.
var googleToken = regexp.MustCompile(`ya29\.[A-Za-z0-9._~+/=-]+`)

// scrubbed removes the credentials (the API key or OAuth access tokens,
// which Google or a proxy before it may quote) and the gateway's project
// id from an upstream message: all are the operator's business, not the
// client's.
func (e *engine) scrubbed(msg string) string {
	if k := e.key(); k != "" {
		msg = strings.ReplaceAll(msg, k, "[redacted]")
	}
	if e.tokens != nil {
		if tok := e.tokens.lastSent(); tok != "" {
			msg = strings.ReplaceAll(msg, tok, "[redacted]")
		}
	}
	if strings.Contains(msg, "ya29.") {
		// Google access tokens; an older one than the last sent.
		msg = googleToken.ReplaceAllString(msg, "[redacted]")
	}
	if e.project != "" {
		msg = strings.ReplaceAll(msg, e.project, "[project]")
	}
	return msg
}
