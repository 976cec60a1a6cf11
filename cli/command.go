// Package cli is the `caddy xjp` command: schema migrations, API key
// management and usage reports for the postgres key store. It needs no
// running gateway: it talks to the database named by --dsn or
// XJP_DATABASE_URL.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "xjp",
		Short: "Manages XJP Gateway's database: schema, API keys, usage",
		Long: `
Manages the database of XJP Gateway's postgres key store.

The database is named by --dsn or the XJP_DATABASE_URL environment
variable. Keys are stored as SHA-256 hashes, or as HMAC-SHA-256 hashes
keyed with XJP_KEY_PEPPER when that variable is set: use the same pepper
as the gateway's "pepper" option.

A key's secret is printed once, when it is created or rotated, and
stored nowhere. Every command prints JSON instead of text with --json.
`,
		CobraFunc: setup,
	})
}

// Environment variables the command reads.
const (
	envDSN    = "XJP_DATABASE_URL"
	envPepper = "XJP_KEY_PEPPER"
)

// setup adds the subcommands and flags to the xjp command.
func setup(cmd *cobra.Command) {
	cmd.PersistentFlags().String("dsn", "", "PostgreSQL connection string (default: $"+envDSN+")")
	cmd.PersistentFlags().Bool("json", false, "Print JSON for scripts")
	cmd.AddCommand(migrateCommand(), keysCommand(), keygenCommand(), usageCommand())
}

// Command returns a fresh xjp command tree, as `caddy xjp` runs it.
func Command() *cobra.Command {
	cmd := &cobra.Command{Use: "xjp", SilenceUsage: true}
	setup(cmd)
	return cmd
}

// env is what every subcommand needs.
type env struct {
	ctx    context.Context
	conn   *pgx.Conn
	hasher postgres.Hasher
	json   bool
	out    io.Writer
}

// open connects to the database; call the returned function when done.
func open(cmd *cobra.Command) (*env, func(), error) {
	dsn, _ := cmd.Flags().GetString("dsn")
	if dsn == "" {
		dsn = os.Getenv(envDSN)
	}
	if dsn == "" {
		return nil, nil, errors.New("no database: pass --dsn or set " + envDSN)
	}
	asJSON, _ := cmd.Flags().GetBool("json")
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to the database: %w", err)
	}
	e := &env{ctx: ctx, conn: conn, hasher: postgres.NewHasher(os.Getenv(envPepper)), json: asJSON, out: cmd.OutOrStdout()}
	return e, func() { conn.Close(context.Background()) }, nil
}

// run wraps a subcommand body with the database connection.
func run(body func(e *env, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		e, done, err := open(cmd)
		if err != nil {
			return err
		}
		defer done()
		return body(e, cmd, args)
	}
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
