package usage

import (
	"context"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

var usageColumns = []string{
	"created_at", "request_id", "tenant_id", "key_id", "model", "provider", "upstream_model", "dialect",
	"status", "prompt_tokens", "completion_tokens", "cached_tokens", "latency_ms", "ttft_ms", "attempts",
}

// copyRows writes rows into usage_logs with one COPY.
func copyRows(ctx context.Context, pool *pgxpool.Pool, rows []Record) error {
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"usage_logs"}, usageColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := &rows[i]
			var key pgtype.UUID
			if r.KeyID != "" {
				if err := key.Scan(r.KeyID); err != nil {
					key = pgtype.UUID{} // not a UUID: keep the row, without the key
				}
			}
			ttft := pgtype.Int4{}
			if r.TTFT > 0 {
				ttft = pgtype.Int4{Int32: millis(r.TTFT), Valid: true}
			}
			return []any{
				r.Time, r.RequestID, r.Tenant, key, r.Model, r.Provider, r.UpstreamModel, r.Dialect,
				clamp16(r.Status), clamp32(r.PromptTokens), clamp32(r.CompletionTokens), clamp32(r.CachedTokens),
				millis(r.Latency), ttft, clamp16(r.Attempts),
			}, nil
		}))
	return err
}

func millis(d time.Duration) int32 { return clamp32(int(d.Milliseconds())) }

func clamp32(v int) int32 { return int32(max(0, min(v, math.MaxInt32))) }

func clamp16(v int) int16 { return int16(max(0, min(v, math.MaxInt16))) }

// writeCharges adds charges to key_daily_tokens in one statement and
// returns the new totals. Charges of keys that no longer exist are
// skipped rather than failing the write.
func writeCharges(ctx context.Context, pool *pgxpool.Pool, charges map[dayKey]int64) ([]stored, error) {
	keys := make([]string, 0, len(charges))
	days := make([]time.Time, 0, len(charges))
	tokens := make([]int64, 0, len(charges))
	for k, n := range charges {
		keys = append(keys, k.key)
		days = append(days, k.day.time())
		tokens = append(tokens, n)
	}
	rows, err := pool.Query(ctx, `
INSERT INTO key_daily_tokens AS t (key_id, day, tokens)
SELECT c.key_id::uuid, c.day, c.tokens
FROM unnest($1::text[], $2::date[], $3::bigint[]) AS c (key_id, day, tokens)
WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.id = c.key_id::uuid)
ON CONFLICT (key_id, day) DO UPDATE SET tokens = t.tokens + excluded.tokens
RETURNING t.key_id::text, t.day, t.tokens`, keys, days, tokens)
	if err != nil {
		return nil, err
	}
	out := make([]stored, 0, len(charges))
	var s stored
	var d time.Time
	_, err = pgx.ForEachRow(rows, []any{&s.key, &d, &s.tokens}, func() error {
		s.day = dayOf(d)
		out = append(out, s)
		return nil
	})
	return out, err
}

// readCounters reads today's counters of keys.
func readCounters(ctx context.Context, pool *pgxpool.Pool, keys []string, today day) (map[string]int64, error) {
	rows, err := pool.Query(ctx,
		"SELECT key_id::text, tokens FROM key_daily_tokens WHERE day = $1 AND key_id = ANY ($2::text[]::uuid[])",
		today.time(), keys)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(keys))
	var key string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&key, &n}, func() error {
		out[key] = n
		return nil
	})
	return out, err
}
