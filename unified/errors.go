package unified

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Kind classifies a failure. Each kind has one HTTP status (Status) and one
// error type per ingress dialect, chosen by the dialect's encoder.
type Kind uint8

const (
	KindInternal         Kind = iota // 500: a bug or an unexpected condition in the gateway
	KindInvalidRequest               // 400: the client's request is malformed or unsupported
	KindAuthentication               // 401: missing or unknown API key
	KindPermission                   // 403: the key may not do this
	KindNotFound                     // 404: unknown model or endpoint
	KindRequestTooLarge              // 413: body over the configured limit
	KindUnprocessable                // 422: well-formed but conflicting (e.g. idempotency key reuse)
	KindRateLimit                    // 429: too many requests or tokens; retry later
	KindQuota                        // 429: quota exhausted; retrying will not help
	KindUpstream                     // 502: the provider failed or answered nonsense
	KindUnavailable                  // 503: a dependency of the gateway is down
	KindOverloaded                   // 503 (529 for Anthropic clients): the provider is overloaded
	KindTimeout                      // 504: the provider did not answer in time
	KindMethodNotAllowed             // 405: wrong HTTP method for the endpoint
)

var kindStatus = [...]int{
	KindInternal:         http.StatusInternalServerError,
	KindInvalidRequest:   http.StatusBadRequest,
	KindAuthentication:   http.StatusUnauthorized,
	KindPermission:       http.StatusForbidden,
	KindNotFound:         http.StatusNotFound,
	KindRequestTooLarge:  http.StatusRequestEntityTooLarge,
	KindUnprocessable:    http.StatusUnprocessableEntity,
	KindRateLimit:        http.StatusTooManyRequests,
	KindQuota:            http.StatusTooManyRequests,
	KindUpstream:         http.StatusBadGateway,
	KindUnavailable:      http.StatusServiceUnavailable,
	KindOverloaded:       http.StatusServiceUnavailable,
	KindTimeout:          http.StatusGatewayTimeout,
	KindMethodNotAllowed: http.StatusMethodNotAllowed,
}

// Status is the HTTP status the gateway answers with for k.
func (k Kind) Status() int {
	if int(k) < len(kindStatus) {
		return kindStatus[k]
	}
	return http.StatusInternalServerError
}

// Error is a failure the gateway reports to its client. Messages never
// carry secrets: connectors scrub upstream text before building one.
type Error struct {
	Kind    Kind
	Message string
	// Param names the offending request field, when there is one.
	Param string
	// Code is a machine-readable code such as "model_not_found".
	Code string
	// RetryAfter is how long the client (or the gateway's retry loop)
	// should wait, when known.
	RetryAfter time.Duration
	// Retryable marks an upstream failure that another attempt may cure.
	Retryable bool
	// UpstreamStatus is the provider's HTTP status, 0 when the failure is
	// the gateway's own.
	UpstreamStatus int
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s (param %s)", e.Message, e.Param)
	}
	return e.Message
}

// Status is the HTTP status for the error.
func (e *Error) Status() int { return e.Kind.Status() }

// Errorf builds an Error of kind k.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// InvalidParam builds a 400 naming the offending field.
func InvalidParam(param, format string, args ...any) *Error {
	return &Error{Kind: KindInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// AsError turns any error into an *Error. Unclassified errors become
// internal errors whose text is not shown to clients; a cancelled or
// expired context becomes a timeout.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: KindTimeout, Message: "the upstream provider did not answer in time", Retryable: true}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Kind: KindTimeout, Message: "the request was cancelled"}
	}
	return &Error{Kind: KindInternal, Message: "internal gateway error"}
}
