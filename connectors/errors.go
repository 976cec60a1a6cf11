package connectors

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xiaojinpro/xjp-gateway/unified"
)

// maxErrorBody bounds how much of an upstream error body is read.
const maxErrorBody = 64 << 10

// ReadErrorBody reads at most 64 KiB of an error response and closes it.
func ReadErrorBody(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return b
}

// maxAnswer bounds a non-streamed answer.
const maxAnswer = 32 << 20

// ReadAnswer reads and closes the body of a whole (non-streamed) answer
// of provider. A read cut by ctx fails with ctx's error, any other with a
// retryable upstream error.
func ReadAnswer(ctx context.Context, resp *http.Response, provider string) ([]byte, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &unified.Error{Kind: unified.KindUpstream, Retryable: true, Message: "reading the answer of provider " + provider + " failed"}
	}
	return body, nil
}

// StatusError classifies an upstream HTTP failure. message is the
// provider's own text (already extracted from its error shape); secret is
// scrubbed from it. Credential failures are reported as a gateway-side
// problem (502) without the provider's text, so that a client never
// believes its own key was refused.
func StatusError(provider string, status int, message string, h http.Header, secret string) *unified.Error {
	if secret != "" {
		message = strings.ReplaceAll(message, secret, "[redacted]")
	}
	if message == "" {
		message = http.StatusText(status)
	}
	e := &unified.Error{UpstreamStatus: status, Message: message, RetryAfter: RetryAfter(h)}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = unified.KindUpstream
		e.Message = "provider " + provider + " rejected the gateway's credentials"
	case status == http.StatusPaymentRequired:
		e.Kind = unified.KindUpstream
		e.Message = "provider " + provider + " refused the request for billing reasons: " + message
	case status == http.StatusNotFound:
		e.Kind = unified.KindNotFound
	case status == http.StatusRequestEntityTooLarge:
		e.Kind = unified.KindRequestTooLarge
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		e.Kind, e.Retryable = unified.KindTimeout, true
	case status == http.StatusTooManyRequests && h.Get("X-Should-Retry") == "false":
		e.Kind = unified.KindQuota // out of credit: waiting will not help
	case status == http.StatusTooManyRequests:
		e.Kind, e.Retryable = unified.KindRateLimit, true
	case status == http.StatusServiceUnavailable || status == 529:
		e.Kind, e.Retryable = unified.KindOverloaded, true
	case status >= 500:
		e.Kind, e.Retryable = unified.KindUpstream, true
	case status == http.StatusConflict:
		e.Kind, e.Retryable = unified.KindUpstream, true
	case status >= 400:
		e.Kind = unified.KindInvalidRequest
	default:
		// Redirects and other statuses mean the provider (or its
		// base_url) is not what the gateway expects: not the client's fault.
		e.Kind = unified.KindUpstream
		e.Message = "provider " + provider + " answered with unexpected status " + strconv.Itoa(status)
	}
	return e
}

// TransportError classifies a failure to get a response at all. The
// caller's own cancellation passes through untouched.
func TransportError(ctx context.Context, provider string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &unified.Error{Kind: unified.KindTimeout, Retryable: true,
			Message: "provider " + provider + " did not answer in time"}
	}
	return &unified.Error{Kind: unified.KindUpstream, Retryable: true,
		Message: "cannot reach provider " + provider}
}

// StreamBroken reports a stream that failed after it started.
func StreamBroken(ctx context.Context, provider string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ue *unified.Error
	if errors.As(err, &ue) {
		return ue
	}
	return &unified.Error{Kind: unified.KindUpstream, Message: "stream from provider " + provider + " broke off"}
}

// RetryAfter reads retry-after-ms or Retry-After (seconds or an HTTP date).
func RetryAfter(h http.Header) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
