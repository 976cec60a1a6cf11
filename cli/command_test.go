package cli

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// xjp runs `caddy xjp args...` and returns what it printed.
func xjp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := Command()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func mustXJP(t *testing.T, args ...string) string {
	t.Helper()
	out, err := xjp(t, args...)
	if err != nil {
		t.Fatalf("xjp %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return v
}

func TestMigrateCommand(t *testing.T) {
	dsn := pgtest.Schema(t)
	if out := mustXJP(t, "migrate", "--dsn", dsn); !strings.Contains(out, "Applied migrations 1, 2") {
		t.Errorf("first run: %q", out)
	}
	if out := mustXJP(t, "migrate", "--dsn", dsn); !strings.Contains(out, "already at version 2") {
		t.Errorf("second run: %q", out)
	}
	res := decode[struct {
		Applied []int
		Version int
	}](t, mustXJP(t, "migrate", "--dsn", dsn, "--json"))
	if len(res.Applied) != 0 || res.Version != 2 {
		t.Errorf("json: %+v", res)
	}
}

// The whole life of a key through the command: create, list, rotate,
// revoke; the database never holds a secret.
func TestKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	t.Setenv(envDSN, dsn)
	conn := pgtest.Connect(t, dsn)

	created := decode[postgres.NewKey](t, mustXJP(t, "keys", "create", "--tenant", "acme", "--name", "ci",
		"--rpm", "120", "--tpm", "90000", "--quota-daily", "50000", "--models", "gpt-*,claude-*", "--expires", "30d", "--json"))
	if !strings.HasPrefix(created.Secret, "XJP_") || len(created.Secret) != postgres.SecretLen {
		t.Fatalf("secret %q", created.Secret)
	}
	if created.Tenant != "acme" || created.Name != "ci" || *created.RPM != 120 || *created.TPM != 90000 || *created.QuotaDaily != 50000 ||
		strings.Join(created.Models, ",") != "gpt-*,claude-*" || created.Status != "active" ||
		created.Prefix != created.Secret[:12] {
		t.Errorf("created = %+v", created.KeyInfo)
	}
	if d := time.Until(*created.ExpiresAt); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("expires in %v", d)
	}
	var stored []byte
	if err := conn.QueryRow(ctx, "SELECT key_hash FROM api_keys WHERE id = $1::text::uuid", created.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(created.Secret)); !bytes.Equal(stored, sum[:]) {
		t.Error("key_hash is not the SHA-256 of the secret")
	}
	assertNoSecret(t, conn, created.Secret)

	human := mustXJP(t, "keys", "create", "--tenant", "acme")
	if !strings.Contains(human, "Secret (shown only now") || !strings.Contains(human, "the gateway's default") {
		t.Errorf("human create output:\n%s", human)
	}
	mustXJP(t, "keys", "create", "--tenant", "other")

	list := decode[[]postgres.KeyInfo](t, mustXJP(t, "keys", "list", "--tenant", "acme", "--json"))
	if len(list) != 2 || list[0].ID != created.ID {
		t.Fatalf("list = %+v", list)
	}
	if all := decode[[]postgres.KeyInfo](t, mustXJP(t, "keys", "list", "--json")); len(all) != 3 {
		t.Errorf("list without tenant: %d keys", len(all))
	}
	table := mustXJP(t, "keys", "list", "--tenant", "acme")
	if !strings.Contains(table, created.Prefix) || strings.Contains(table, created.Secret) ||
		!strings.Contains(table, "gpt-*,claude-*") || !strings.Contains(table, "50000") {
		t.Errorf("list table:\n%s", table)
	}

	rotated := decode[postgres.NewKey](t, mustXJP(t, "keys", "rotate", created.ID, "--json"))
	if rotated.ID != created.ID || rotated.Secret == created.Secret || *rotated.RPM != 120 {
		t.Fatalf("rotated = %+v", rotated.KeyInfo)
	}
	if _, err := postgres.FindKey(ctx, conn, postgres.Hasher{}, created.Secret); err == nil {
		t.Error("the old secret still finds the key after rotation")
	}
	if k, err := postgres.FindKey(ctx, conn, postgres.Hasher{}, rotated.Secret); err != nil || k.ID != created.ID {
		t.Errorf("the new secret: %v, %v", k, err)
	}

	out := mustXJP(t, "keys", "revoke", rotated.Prefix)
	if !strings.Contains(out, "Revoked key "+created.ID) {
		t.Errorf("revoke output %q", out)
	}
	list = decode[[]postgres.KeyInfo](t, mustXJP(t, "keys", "list", "--tenant", "acme", "--json"))
	if list[0].Status != "revoked" || list[0].Enabled {
		t.Errorf("after revoke: %+v", list[0])
	}
	if _, err := xjp(t, "keys", "rotate", created.ID); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("rotating a revoked key: %v", err)
	}
}

func TestKeygen(t *testing.T) {
	dsn := pgtest.Migrated(t)
	conn := pgtest.Connect(t, dsn)
	t.Setenv(envPepper, "a-pepper")
	out := mustXJP(t, "keygen", "--tenant", "acme", "--dsn", dsn)
	secret := strings.TrimSuffix(out, "\n")
	if strings.Count(out, "\n") != 1 || len(secret) != postgres.SecretLen {
		t.Fatalf("keygen printed %q; want the secret alone", out)
	}
	var stored []byte
	if err := conn.QueryRow(context.Background(), "SELECT key_hash FROM api_keys").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte("a-pepper"))
	m.Write([]byte(secret))
	if !bytes.Equal(stored, m.Sum(nil)) {
		t.Error("with XJP_KEY_PEPPER the stored hash is not the HMAC-SHA-256 of the secret")
	}
}

func TestUsageCommand(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Migrated(t)
	t.Setenv(envDSN, dsn)
	conn := pgtest.Connect(t, dsn)
	k := decode[postgres.NewKey](t, mustXJP(t, "keys", "create", "--tenant", "acme", "--json"))
	for i, r := range []struct {
		tenant, model string
		status        int
		prompt, out   int
		age           time.Duration
	}{
		{"acme", "gpt", 200, 10, 5, time.Hour},
		{"acme", "gpt", 502, 10, 0, time.Hour},
		{"acme", "echo", 200, 3, 3, time.Minute},
		{"acme", "gpt", 200, 100, 100, 48 * time.Hour}, // outside the default period
		{"other", "gpt", 200, 7, 7, time.Hour},         // another tenant
	} {
		_, err := conn.Exec(ctx, `INSERT INTO usage_logs (created_at, request_id, tenant_id, key_id, model, provider,
			upstream_model, dialect, status, prompt_tokens, completion_tokens, cached_tokens, latency_ms, attempts)
			VALUES ($1, $2, $3, $4::text::uuid, $5, 'p', 'm', 'openai', $6, $7, $8, 1, 20, 1)`,
			time.Now().Add(-r.age), fmt.Sprint(i), r.tenant, k.ID, r.model, r.status, r.prompt, r.out)
		if err != nil {
			t.Fatal(err)
		}
	}
	rep := decode[struct {
		Tenant string
		Usage  []struct {
			KeyPrefix        string `json:"key_prefix"`
			Model            string
			Requests, Errors int64
			PromptTokens     int64 `json:"prompt_tokens"`
			CompletionTokens int64 `json:"completion_tokens"`
		}
	}](t, mustXJP(t, "usage", "--tenant", "acme", "--json"))
	if len(rep.Usage) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	echo, gpt := rep.Usage[0], rep.Usage[1]
	if echo.Model != "echo" || echo.Requests != 1 || echo.PromptTokens != 3 ||
		gpt.Model != "gpt" || gpt.Requests != 2 || gpt.Errors != 1 || gpt.PromptTokens != 20 || gpt.CompletionTokens != 5 ||
		gpt.KeyPrefix != k.Prefix {
		t.Errorf("report = %+v", rep.Usage)
	}
	week := decode[struct{ Usage []struct{ Requests int64 } }](t, mustXJP(t, "usage", "--tenant", "acme", "--since", "7d", "--json"))
	if n := week.Usage[0].Requests + week.Usage[1].Requests; n != 4 {
		t.Errorf("--since 7d: %d requests, want 4", n)
	}
	table := mustXJP(t, "usage", "--tenant", "acme")
	if !strings.Contains(table, "total") || !strings.Contains(table, k.Prefix) {
		t.Errorf("usage table:\n%s", table)
	}
	if _, err := xjp(t, "usage", "--tenant", "acme", "--since", "yesterday"); err == nil {
		t.Error("a bad --since was accepted")
	}
}

func TestCommandErrors(t *testing.T) {
	dsn := pgtest.Migrated(t)
	t.Setenv(envDSN, "")
	if _, err := xjp(t, "keys", "list"); err == nil || !strings.Contains(err.Error(), "XJP_DATABASE_URL") {
		t.Errorf("without a DSN: %v", err)
	}
	t.Setenv(envDSN, dsn)
	for _, args := range [][]string{
		{"keys", "create"}, // no tenant
		{"keys", "create", "--tenant", "a", "--expires", "-1h"},  // bad expiry
		{"keys", "create", "--tenant", "a", "--models", "gpt-["}, // bad glob
		{"keys", "create", "--tenant", "a", "--rpm", "-1"},
		{"keys", "create", "--tenant", "a", "--tpm", "-1"},
		{"keys", "revoke", "XJP_nothing0"},
		{"keys", "revoke", "not-a-key"},
		{"keys", "revoke"},
	} {
		if out, err := xjp(t, args...); err == nil {
			t.Errorf("xjp %v succeeded:\n%s", args, out)
		}
	}
	// A secret passed where a reference is expected is never echoed.
	secret := postgres.NewSecret()
	_, err := xjp(t, "keys", "revoke", secret)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("revoke with an unknown secret: %v", err)
	}
}

// assertNoSecret fails when any column of any key row holds secret.
func assertNoSecret(t *testing.T, conn *pgx.Conn, secret string) {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(),
		"SELECT count(*) FROM api_keys k WHERE strpos(row_to_json(k)::text, $1) > 0", secret).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("the secret is stored in clear")
	}
}
