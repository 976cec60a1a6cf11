package cli

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/xiaojinpro/xjp-gateway/usage"
)

func usageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "usage --tenant <id> [--since <when>] [--until <when>]",
		Short: "Reports a tenant's requests and tokens by key and model",
		Long: `
Sums the usage logs of a tenant by key and model. --since and --until take
a duration back from now (24h, 7d), a date (2025-06-01, midnight UTC) or an
RFC 3339 time. The default period is the last 24 hours.

Rows reach the database in batches, a second or so after their request.
`,
		Args: cobra.NoArgs,
		RunE: run(func(e *env, cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			tenant, _ := f.GetString("tenant")
			now := time.Now()
			sinceArg, _ := f.GetString("since")
			since, err := parseWhen(sinceArg, now)
			if err != nil {
				return fmt.Errorf("bad --since: %w", err)
			}
			until := now
			if s, _ := f.GetString("until"); s != "" {
				if until, err = parseWhen(s, now); err != nil {
					return fmt.Errorf("bad --until: %w", err)
				}
			}
			rows, err := usage.Summarize(e.ctx, e.conn, tenant, since, until)
			if err != nil {
				return err
			}
			if e.json {
				if rows == nil {
					rows = []usage.Summary{}
				}
				return e.printJSON(map[string]any{
					"tenant": tenant, "since": since.UTC(), "until": until.UTC(), "usage": rows,
				})
			}
			return printUsage(e, tenant, since, until, rows)
		}),
	}
	f := cmd.Flags()
	f.String("tenant", "", "Tenant to report on (required)")
	f.String("since", "24h", "Start of the period")
	f.String("until", "", "End of the period (default: now)")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}

// parseWhen reads a point in time: a duration before now, a date or an
// RFC 3339 time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := caddy.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want a duration (24h, 7d), a date (2025-06-01) or an RFC 3339 time, got " + fmt.Sprintf("%q", s))
}

func printUsage(e *env, tenant string, since, until time.Time, rows []usage.Summary) error {
	fmt.Fprintf(e.out, "Usage of tenant %s from %s to %s\n\n", tenant,
		since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
	if len(rows) == 0 {
		_, err := fmt.Fprintln(e.out, "No requests.")
		return err
	}
	w := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tMODEL\tREQUESTS\tERRORS\tPROMPT\tCOMPLETION\tCACHED\tAVG MS")
	var total usage.Summary
	for _, r := range rows {
		key := r.KeyPrefix
		if key == "" {
			key = dash(r.KeyID)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%.0f\n", key, r.Model, r.Requests, r.Errors,
			r.PromptTokens, r.CompletionTokens, r.CachedTokens, r.AvgLatencyMS)
		total.Requests += r.Requests
		total.Errors += r.Errors
		total.PromptTokens += r.PromptTokens
		total.CompletionTokens += r.CompletionTokens
		total.CachedTokens += r.CachedTokens
	}
	fmt.Fprintf(w, "total\t\t%d\t%d\t%d\t%d\t%d\t\n", total.Requests, total.Errors,
		total.PromptTokens, total.CompletionTokens, total.CachedTokens)
	return w.Flush()
}
