package gemini

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

func errorBody(code int, status, message string) []byte {
	return []byte(`{"error":{"code":` + strconv.Itoa(code) + `,"message":"` + message + `","status":"` + status + `"}}`)
}

func TestUpstreamErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rep       reply
		kind      unified.Kind
		status    int
		retryable bool
		msg       string
	}{
		{"schema rejected", jsonReply(400, fixture(t, "gemini_error_400_schema.json")), unified.KindInvalidRequest, 400, false, `Unknown name "additionalProperties"`},
		{"expired token", jsonReply(401, fixture(t, "gemini_error_401.json")), unified.KindUpstream, 502, false, "rejected the gateway's credentials"},
		{"IAM", jsonReply(403, errorBody(403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied")), unified.KindUpstream, 502, false, "rejected the gateway's credentials"},
		{"Gemini API bad key", jsonReply(400, []byte(`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
			"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`)),
			unified.KindUpstream, 502, false, "rejected the gateway's credentials"},
		{"model not in region", jsonReply(404, errorBody(404, "NOT_FOUND", "Publisher Model was not found")), unified.KindNotFound, 404, false, "not found"},
		{"quota", jsonReply(429, fixture(t, "gemini_error_429.json")), unified.KindRateLimit, 429, true, "Resource exhausted"},
		{"billing", jsonReply(400, errorBody(400, "FAILED_PRECONDITION", "Billing is disabled")), unified.KindUpstream, 502, false, "Billing is disabled"},
		{"internal", jsonReply(500, errorBody(500, "INTERNAL", "Internal error encountered.")), unified.KindUpstream, 502, true, "Internal error"},
		{"overloaded", jsonReply(503, errorBody(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")), unified.KindOverloaded, 503, true, "overloaded"},
		{"deadline", jsonReply(504, errorBody(504, "DEADLINE_EXCEEDED", "Deadline exceeded")), unified.KindTimeout, 504, true, "Deadline"},
		{"cancelled", jsonReply(499, errorBody(499, "CANCELLED", "Request cancelled")), unified.KindUpstream, 502, true, "cancelled"},
		{"array-wrapped", jsonReply(429, []byte(`[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}]`)), unified.KindRateLimit, 429, true, "Quota exceeded"},
		{"not JSON", reply{status: 502, contentType: "text/html", body: []byte("<html>Bad Gateway</html>")}, unified.KindUpstream, 502, true, "Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, stream := range []bool{false, true} {
				u := newUpstream(t, tt.rep)
				v := newExpress(t, u.URL, nil)
				var err error
				if stream {
					_, err = v.Stream(context.Background(), simpleRequest())
				} else {
					_, err = v.Generate(context.Background(), simpleRequest())
				}
				ue := asUnified(t, err)
				if ue.Kind != tt.kind || ue.Status() != tt.status || ue.Retryable != tt.retryable || !strings.Contains(ue.Message, tt.msg) {
					t.Errorf("stream=%v: error = kind %v status %d retryable %v %q; want %v %d %v containing %q",
						stream, ue.Kind, ue.Status(), ue.Retryable, ue.Message, tt.kind, tt.status, tt.retryable, tt.msg)
				}
				if ue.UpstreamStatus != tt.rep.status {
					t.Errorf("UpstreamStatus = %d", ue.UpstreamStatus)
				}
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	body := []byte(`{"error":{"code":429,"message":"You exceeded your current quota","status":"RESOURCE_EXHAUSTED","details":[
		{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"x"}]},
		{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`)
	_, err := generate(t, jsonReply(429, body))
	if ue := asUnified(t, err); ue.RetryAfter != 37*time.Second {
		t.Errorf("RetryAfter = %v, want 37s from RetryInfo", ue.RetryAfter)
	}
	rep := jsonReply(429, body)
	rep.header = map[string]string{"Retry-After": "3"}
	_, err = generate(t, rep)
	if ue := asUnified(t, err); ue.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %v, want the header's 3s", ue.RetryAfter)
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	t.Parallel()
	e := testEngine(t)
	e.project = "acme-prod-1234"
	ue := e.upstreamError(http.StatusNotFound, errorBody(404, "NOT_FOUND",
		"Publisher Model `projects/acme-prod-1234/locations/us-central1/publishers/google/models/gemini-9` was not found; key "+testKey), nil)
	if strings.Contains(ue.Message, "acme-prod-1234") || strings.Contains(ue.Message, testKey) {
		t.Errorf("message leaks the project or the key: %q", ue.Message)
	}
	if !strings.Contains(ue.Message, "projects/[project]/") {
		t.Errorf("message = %q", ue.Message)
	}
}
