package cli

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
	"github.com/xiaojinpro/xjp-gateway/internal/pgschema"
)

func migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate [--dsn <url>]",
		Short: "Creates or updates the database schema",
		Long: `
Applies the schema migrations the database lacks. It is safe to run at any
time, also while gateways run: migrations are versioned, run once each, in
one transaction, under a lock.
`,
		Args: cobra.NoArgs,
		RunE: run(func(e *env, _ *cobra.Command, _ []string) error {
			res, err := pgschema.Migrate(e.ctx, e.conn)
			if err != nil {
				return err
			}
			if e.json {
				if res.Applied == nil {
					res.Applied = []int{}
				}
				return e.printJSON(map[string]any{"applied": res.Applied, "version": res.Version})
			}
			if len(res.Applied) == 0 {
				_, err = fmt.Fprintf(e.out, "Schema already at version %d\n", res.Version)
				return err
			}
			_, err = fmt.Fprintf(e.out, "Applied migrations %s; schema at version %d\n", joinInts(res.Applied), res.Version)
			return err
		}),
	}
}

func keysCommand() *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Creates, lists, revokes and rotates API keys",
	}
	create := &cobra.Command{
		Use:   "create --tenant <id> [--name <label>] [--rpm <n>] [--tpm <n>] [--quota-daily <tokens>] [--models <glob,...>] [--expires <duration>]",
		Short: "Creates an API key and prints its secret once",
		Args:  cobra.NoArgs,
		RunE: run(func(e *env, cmd *cobra.Command, _ []string) error {
			spec, err := keySpec(cmd)
			if err != nil {
				return err
			}
			k, err := postgres.CreateKey(e.ctx, e.conn, e.hasher, spec)
			if err != nil {
				return err
			}
			return e.printNewKey("Created", k)
		}),
	}
	keySpecFlags(create)
	keys.AddCommand(create)

	list := &cobra.Command{
		Use:   "list [--tenant <id>]",
		Short: "Lists API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: run(func(e *env, cmd *cobra.Command, _ []string) error {
			tenant, _ := cmd.Flags().GetString("tenant")
			list, err := postgres.ListKeys(e.ctx, e.conn, tenant)
			if err != nil {
				return err
			}
			if e.json {
				if list == nil {
					list = []postgres.KeyInfo{}
				}
				return e.printJSON(list)
			}
			return printKeys(e, list)
		}),
	}
	list.Flags().String("tenant", "", "Only the keys of this tenant")
	keys.AddCommand(list)

	keys.AddCommand(&cobra.Command{
		Use:   "revoke <id|prefix>",
		Short: "Revokes an API key; running gateways refuse it at once",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(e *env, _ *cobra.Command, args []string) error {
			k, err := postgres.RevokeKey(e.ctx, e.conn, e.hasher, args[0])
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(k)
			}
			_, err = fmt.Fprintf(e.out, "Revoked key %s (%s, tenant %s)\n", k.ID, k.Prefix, k.Tenant)
			return err
		}),
	})

	keys.AddCommand(&cobra.Command{
		Use:   "rotate <id|prefix>",
		Short: "Gives an API key a new secret; the old one stops working at once",
		Long: `
Replaces the secret of a key. The key keeps its id, tenant, limits and usage
history; the old secret stops working on every running gateway at once, so
deploy the new one first where you can.
`,
		Args: cobra.ExactArgs(1),
		RunE: run(func(e *env, _ *cobra.Command, args []string) error {
			k, err := postgres.RotateKey(e.ctx, e.conn, e.hasher, args[0])
			if err != nil {
				return err
			}
			return e.printNewKey("Rotated", k)
		}),
	})
	return keys
}

func keygenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen --tenant <id> [keys create options]",
		Short: "Creates an API key and prints only its secret",
		Long: `
The short form of "keys create" for scripts: it prints the secret alone on
one line (or, with --json, what "keys create --json" prints).

    KEY=$(caddy xjp keygen --tenant acme)
`,
		Args: cobra.NoArgs,
		RunE: run(func(e *env, cmd *cobra.Command, _ []string) error {
			spec, err := keySpec(cmd)
			if err != nil {
				return err
			}
			k, err := postgres.CreateKey(e.ctx, e.conn, e.hasher, spec)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(k)
			}
			_, err = fmt.Fprintln(e.out, k.Secret)
			return err
		}),
	}
	keySpecFlags(cmd)
	return cmd
}

func keySpecFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("tenant", "", "Tenant that owns the key (required)")
	f.String("name", "", "Label shown in listings")
	f.Int("rpm", 0, "Requests per minute (default: the gateway's rate_limit default_rpm)")
	f.Int("tpm", 0, "Tokens per minute (default: the gateway's rate_limit default_tpm)")
	f.Int64("quota-daily", 0, "Tokens per UTC day (default: no quota)")
	f.StringSlice("models", nil, "Model names or globs the key may use, comma-separated (default: all)")
	f.String("expires", "", "Lifetime, e.g. 30d or 12h (default: never expires)")
	_ = cmd.MarkFlagRequired("tenant")
}

func keySpec(cmd *cobra.Command) (postgres.KeySpec, error) {
	f := cmd.Flags()
	var spec postgres.KeySpec
	spec.Tenant, _ = f.GetString("tenant")
	spec.Name, _ = f.GetString("name")
	spec.RPM, _ = f.GetInt("rpm")
	spec.TPM, _ = f.GetInt("tpm")
	spec.QuotaDaily, _ = f.GetInt64("quota-daily")
	spec.Models, _ = f.GetStringSlice("models")
	if s, _ := f.GetString("expires"); s != "" {
		d, err := caddy.ParseDuration(s)
		if err != nil || d <= 0 {
			return spec, fmt.Errorf("bad --expires %q: want a positive duration such as 30d or 12h", s)
		}
		spec.ExpiresAt = time.Now().Add(d).Truncate(time.Second)
	}
	return spec, nil
}

func (e *env) printNewKey(verb string, k *postgres.NewKey) error {
	if e.json {
		return e.printJSON(k)
	}
	w := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "%s API key for tenant %s\n", verb, k.Tenant)
	fmt.Fprintf(w, "  id:\t%s\n", k.ID)
	fmt.Fprintf(w, "  prefix:\t%s\n", k.Prefix)
	if k.Name != "" {
		fmt.Fprintf(w, "  name:\t%s\n", k.Name)
	}
	fmt.Fprintf(w, "  models:\t%s\n", models(k.Models))
	fmt.Fprintf(w, "  rate limit:\t%s\n", rpm(k.RPM))
	fmt.Fprintf(w, "  token limit:\t%s\n", tpm(k.TPM))
	fmt.Fprintf(w, "  daily quota:\t%s\n", quota(k.QuotaDaily))
	fmt.Fprintf(w, "  expires:\t%s\n", timeOr(k.ExpiresAt, "never"))
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.out, "\nSecret (shown only now; store it safely):\n%s\n", k.Secret)
	return err
}

func printKeys(e *env, list []postgres.KeyInfo) error {
	w := tabwriter.NewWriter(e.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tPREFIX\tTENANT\tNAME\tSTATUS\tMODELS\tRPM\tTPM\tQUOTA/DAY\tUSED TODAY\tEXPIRES\tLAST USED")
	for _, k := range list {
		r, tk := "default", "default"
		if k.RPM != nil {
			r = strconv.Itoa(*k.RPM)
		}
		if k.TPM != nil {
			tk = strconv.Itoa(*k.TPM)
		}
		q := "-"
		if k.QuotaDaily != nil {
			q = strconv.FormatInt(*k.QuotaDaily, 10)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", k.ID, k.Prefix, k.Tenant, dash(k.Name), k.Status,
			models(k.Models), r, tk, q, k.TokensToday, timeOr(k.ExpiresAt, "never"), timeOr(k.LastUsedAt, "never"))
	}
	return w.Flush()
}

func models(m []string) string {
	if len(m) == 0 {
		return "all"
	}
	return strings.Join(m, ",")
}

func rpm(v *int) string {
	if v == nil {
		return "the gateway's default"
	}
	return strconv.Itoa(*v) + " requests/minute"
}

func quota(v *int64) string {
	if v == nil {
		return "none"
	}
	return strconv.FormatInt(*v, 10) + " tokens/UTC day"
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func tpm(v *int) string {
	if v == nil {
		return "the gateway's default"
	}
	return strconv.Itoa(*v) + " tokens/minute"
}
