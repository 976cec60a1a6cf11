// Package auth identifies the caller of the gateway: key extraction, key
// stores (Caddy guest modules http.xjp_gateway.key_stores.<name>) and what a
// key may do.
package auth

import (
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
)

var (
	// ErrUnknownKey means the presented key does not exist, or is revoked,
	// disabled or expired: the client gets 401 and no hint which.
	ErrUnknownKey = errors.New("invalid API key")
	// ErrUnavailable means the store cannot decide right now (its database
	// is down): the client gets 503, never access.
	ErrUnavailable = errors.New("the key store is unavailable")
)

// Key is an authenticated caller.
type Key struct {
	// ID identifies the key in logs, metrics and usage rows; never the
	// secret.
	ID string
	// Tenant owns the key; usage and idempotency are scoped by it.
	Tenant string
	// Name is a human label.
	Name string
	// Models are the public model names the key may use, as path.Match
	// globs; empty means every model.
	Models []string
	// RateLimitRPM overrides the default requests per minute; 0 keeps it.
	RateLimitRPM int
	// RateLimitTPM overrides the default tokens per minute; 0 keeps it.
	RateLimitTPM int
	// QuotaTokensDaily caps tokens per UTC day; 0 means no quota.
	QuotaTokensDaily int64
}

// AllowsModel reports whether the key may use the public model name.
func (k *Key) AllowsModel(name string) bool {
	if len(k.Models) == 0 {
		return true
	}
	for _, pattern := range k.Models {
		if ok, _ := path.Match(pattern, name); ok {
			return true
		}
	}
	return false
}

// Store looks keys up.
type Store interface {
	// Authenticate returns the key whose secret is presented, or
	// ErrUnknownKey, or ErrUnavailable.
	Authenticate(ctx context.Context, secret string) (*Key, error)
}

// KeyFromRequest returns the secret the client presented: a bearer token
// (OpenAI SDKs, Claude Code's ANTHROPIC_AUTH_TOKEN) or x-api-key
// (Anthropic SDKs).
func KeyFromRequest(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}
