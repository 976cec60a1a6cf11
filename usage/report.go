package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Summary is a tenant's usage of one model through one key over a
// period.
type Summary struct {
	KeyID            string `json:"key_id"`
	KeyPrefix        string `json:"key_prefix"`
	Model            string `json:"model"`
	Requests         int64  `json:"requests"`
	Errors           int64  `json:"errors"` // outcomes with status >= 400
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	// AvgLatencyMS is the mean request duration in milliseconds.
	AvgLatencyMS float64 `json:"avg_latency_ms"`
}

// Querier runs a query: a *pgx.Conn, *pgxpool.Pool or pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Summarize sums the usage logs of tenant in [since, until) by key and
// model.
func Summarize(ctx context.Context, q Querier, tenant string, since, until time.Time) ([]Summary, error) {
	rows, err := q.Query(ctx, `
SELECT coalesce(u.key_id::text, ''), coalesce(max(k.key_prefix), ''), u.model, count(*),
       count(*) FILTER (WHERE u.status >= 400),
       sum(u.prompt_tokens), sum(u.completion_tokens), sum(u.cached_tokens), avg(u.latency_ms)::float8
FROM usage_logs u LEFT JOIN api_keys k ON k.id = u.key_id
WHERE u.tenant_id = $1 AND u.created_at >= $2 AND u.created_at < $3
GROUP BY u.key_id, u.model
ORDER BY 1, 3`, tenant, since, until)
	if err != nil {
		return nil, fmt.Errorf("reading usage logs: %w", err)
	}
	var (
		out []Summary
		s   Summary
	)
	_, err = pgx.ForEachRow(rows, []any{&s.KeyID, &s.KeyPrefix, &s.Model, &s.Requests, &s.Errors,
		&s.PromptTokens, &s.CompletionTokens, &s.CachedTokens, &s.AvgLatencyMS}, func() error {
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading usage logs: %w", err)
	}
	return out, nil
}
