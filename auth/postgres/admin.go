package postgres

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Key management, for `caddy xjp keys`. Every change goes through
// api_keys, whose trigger announces it to the running gateways.

// Queryer runs SQL: a *pgx.Conn, *pgxpool.Pool or pgx.Tx.
type Queryer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// KeySpec describes a key to create.
type KeySpec struct {
	Tenant string
	Name   string
	// RPM is the key's requests per minute; 0 uses the gateway's
	// rate_limit default.
	RPM int
	// TPM is the key's tokens per minute; 0 uses the gateway's rate_limit
	// default.
	TPM int
	// QuotaDaily caps the key's tokens per UTC day; 0 means no quota.
	QuotaDaily int64
	// Models the key may use, as globs; empty means every model.
	Models []string
	// ExpiresAt ends the key; zero means never.
	ExpiresAt time.Time
}

func (s *KeySpec) validate(now time.Time) error {
	if strings.TrimSpace(s.Tenant) == "" {
		return errors.New("a tenant is required")
	}
	if s.RPM < 0 {
		return errors.New("the requests per minute must not be negative")
	}
	if s.TPM < 0 {
		return errors.New("the tokens per minute must not be negative")
	}
	if s.QuotaDaily < 0 {
		return errors.New("the daily token quota must not be negative")
	}
	for _, m := range s.Models {
		if _, err := path.Match(m, ""); err != nil || m == "" {
			return fmt.Errorf("bad model glob %q", m)
		}
	}
	if !s.ExpiresAt.IsZero() && !s.ExpiresAt.After(now) {
		return errors.New("the expiry must be in the future")
	}
	return nil
}

// KeyInfo is a key as listed: everything but the secret.
type KeyInfo struct {
	ID     string `json:"id"`
	Prefix string `json:"prefix"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// Models are the model globs the key may use; empty means all.
	Models []string `json:"models"`
	// RPM is the key's own requests per minute; null uses the default.
	RPM *int `json:"rate_limit_rpm"`
	// TPM is the key's own tokens per minute; null uses the default.
	TPM *int `json:"rate_limit_tpm"`
	// QuotaDaily is the key's tokens per UTC day; null means no quota.
	QuotaDaily *int64 `json:"quota_tokens_daily"`
	Enabled    bool   `json:"enabled"`
	// Status is active, revoked or expired.
	Status     string     `json:"status"`
	ExpiresAt  *time.Time `json:"expires_at"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	// TokensToday is what the key used in the current UTC day, as far as
	// the gateways have written it.
	TokensToday int64 `json:"tokens_today"`
}

// NewKey is a key just created or rotated, with its secret: shown once,
// stored nowhere.
type NewKey struct {
	KeyInfo
	Secret string `json:"secret"`
}

const selectKeys = `
SELECT k.id::text, k.key_prefix, k.tenant_id, k.name, k.scopes, k.rate_limit_rpm, k.rate_limit_tpm, k.quota_tokens_daily,
       k.enabled, k.expires_at, k.created_at, k.last_used_at, coalesce(t.tokens, 0)
FROM api_keys k
LEFT JOIN key_daily_tokens t ON t.key_id = k.id AND t.day = (now() AT TIME ZONE 'utc')::date`

func scanKeys(rows pgx.Rows) ([]KeyInfo, error) {
	var out []KeyInfo
	now := time.Now()
	var k KeyInfo
	_, err := pgx.ForEachRow(rows, []any{&k.ID, &k.Prefix, &k.Tenant, &k.Name, &k.Models, &k.RPM, &k.TPM, &k.QuotaDaily,
		&k.Enabled, &k.ExpiresAt, &k.CreatedAt, &k.LastUsedAt, &k.TokensToday}, func() error {
		switch {
		case !k.Enabled:
			k.Status = "revoked"
		case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
			k.Status = "expired"
		default:
			k.Status = "active"
		}
		if k.Models == nil {
			k.Models = []string{}
		}
		out = append(out, k)
		k = KeyInfo{}
		return nil
	})
	return out, err
}

// CreateKey creates a key and returns it with its secret.
func CreateKey(ctx context.Context, db Queryer, h Hasher, spec KeySpec) (*NewKey, error) {
	if err := spec.validate(time.Now()); err != nil {
		return nil, err
	}
	secret := NewSecret()
	d := h.Hash(secret)
	var rpm, tpm *int
	if spec.RPM > 0 {
		rpm = &spec.RPM
	}
	if spec.TPM > 0 {
		tpm = &spec.TPM
	}
	var quota *int64
	if spec.QuotaDaily > 0 {
		quota = &spec.QuotaDaily
	}
	var expires *time.Time
	if !spec.ExpiresAt.IsZero() {
		expires = &spec.ExpiresAt
	}
	models := spec.Models
	if models == nil {
		models = []string{}
	}
	var id string
	err := db.QueryRow(ctx, `
INSERT INTO api_keys (key_hash, key_prefix, tenant_id, name, scopes, rate_limit_rpm, rate_limit_tpm, quota_tokens_daily, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id::text`,
		d[:], DisplayPrefix(secret), strings.TrimSpace(spec.Tenant), spec.Name, models, rpm, tpm, quota, expires).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("creating the key: %w", err)
	}
	info, err := keyByID(ctx, db, id)
	if err != nil {
		return nil, err
	}
	return &NewKey{KeyInfo: *info, Secret: secret}, nil
}

// ListKeys lists the keys of tenant (all keys when tenant is empty),
// oldest first.
func ListKeys(ctx context.Context, db Queryer, tenant string) ([]KeyInfo, error) {
	rows, err := db.Query(ctx, selectKeys+`
WHERE $1 = '' OR k.tenant_id = $1
ORDER BY k.created_at, k.id`, tenant)
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	return keys, nil
}

func keyByID(ctx context.Context, db Queryer, id string) (*KeyInfo, error) {
	rows, err := db.Query(ctx, selectKeys+" WHERE k.id = $1::text::uuid", id)
	if err != nil {
		return nil, err
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key with id %s", id)
	}
	return &keys[0], nil
}

// FindKey finds a key by its id, its displayed prefix, or its secret.
func FindKey(ctx context.Context, db Queryer, h Hasher, ref string) (*KeyInfo, error) {
	ref = strings.TrimSpace(ref)
	var (
		rows pgx.Rows
		err  error
	)
	switch {
	case isUUID(ref):
		rows, err = db.Query(ctx, selectKeys+" WHERE k.id = $1::text::uuid", ref)
	case wellFormed(ref):
		d := h.Hash(ref)
		rows, err = db.Query(ctx, selectKeys+" WHERE k.key_hash = $1", d[:])
	case strings.HasPrefix(ref, SecretPrefix) && len(ref) >= DisplayPrefixLen:
		rows, err = db.Query(ctx, selectKeys+" WHERE k.key_prefix = $1 ORDER BY k.created_at", DisplayPrefix(ref))
	default:
		return nil, fmt.Errorf("%q is neither a key id nor a key prefix (%s followed by 8 characters)", ref, SecretPrefix)
	}
	if err != nil {
		return nil, fmt.Errorf("finding the key: %w", err)
	}
	keys, err := scanKeys(rows)
	if err != nil {
		return nil, fmt.Errorf("finding the key: %w", err)
	}
	shown := ref
	if wellFormed(ref) {
		shown = DisplayPrefix(ref) + "…" // never echo a secret
	}
	switch len(keys) {
	case 0:
		return nil, fmt.Errorf("no key matches %q", shown)
	case 1:
		return &keys[0], nil
	default:
		ids := make([]string, len(keys))
		for i := range keys {
			ids[i] = keys[i].ID
		}
		return nil, fmt.Errorf("%q matches %d keys (%s): use the id", shown, len(keys), strings.Join(ids, ", "))
	}
}

// RevokeKey disables a key for good. Running gateways drop it from their
// caches as soon as the change commits.
func RevokeKey(ctx context.Context, db Queryer, h Hasher, ref string) (*KeyInfo, error) {
	k, err := FindKey(ctx, db, h, ref)
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, "UPDATE api_keys SET enabled = false WHERE id = $1::text::uuid AND enabled", k.ID); err != nil {
		return nil, fmt.Errorf("revoking the key: %w", err)
	}
	return keyByID(ctx, db, k.ID)
}

// RotateKey gives a key a new secret; the old one stops working at once.
// The id, limits and usage history stay.
func RotateKey(ctx context.Context, db Queryer, h Hasher, ref string) (*NewKey, error) {
	k, err := FindKey(ctx, db, h, ref)
	if err != nil {
		return nil, err
	}
	if k.Status == "revoked" {
		return nil, fmt.Errorf("key %s is revoked; create a new one", k.ID)
	}
	secret := NewSecret()
	d := h.Hash(secret)
	tag, err := db.Exec(ctx, "UPDATE api_keys SET key_hash = $2, key_prefix = $3 WHERE id = $1::text::uuid AND enabled",
		k.ID, d[:], DisplayPrefix(secret))
	if err != nil {
		return nil, fmt.Errorf("rotating the key: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return nil, fmt.Errorf("key %s was revoked meanwhile", k.ID)
	}
	info, err := keyByID(ctx, db, k.ID)
	if err != nil {
		return nil, err
	}
	return &NewKey{KeyInfo: *info, Secret: secret}, nil
}

// isUUID reports whether s is a UUID in its canonical text form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
