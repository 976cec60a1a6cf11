package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func provision(t *testing.T, keys ...StaticKey) *StaticStore {
	t.Helper()
	s := &StaticStore{Keys: keys}
	if err := s.Provision(caddy.Context{}); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return s
}

func TestStaticStoreProvisionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		keys []StaticKey
		want string // substring of the error
	}{
		{"empty key", []StaticKey{{Key: "", Tenant: "t"}}, "empty"},
		{"unset env placeholder", []StaticKey{{Key: "{env.XJP_TEST_SURELY_UNSET_VAR}", Tenant: "t"}}, "empty"},
		{"missing tenant", []StaticKey{{Key: "sk-a", Tenant: ""}}, "tenant"},
		{"duplicate", []StaticKey{{Key: "sk-a", Tenant: "t1"}, {Key: "sk-a", Tenant: "t2"}}, "twice"},
		{"second key bad", []StaticKey{{Key: "sk-a", Tenant: "t"}, {Key: "sk-b"}}, "static key 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &StaticStore{Keys: tt.keys}
			err := s.Provision(caddy.Context{})
			if err == nil {
				t.Fatal("Provision succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
			for _, k := range tt.keys {
				if k.Key != "" && strings.Contains(err.Error(), k.Key) {
					t.Errorf("err %q leaks the key %q", err, k.Key)
				}
			}
		})
	}
}

func TestStaticStoreEnvPlaceholder(t *testing.T) {
	// Not parallel: t.Setenv.
	t.Setenv("XJP_TEST_KEY_A", "sk-from-env-a")
	t.Setenv("XJP_TEST_KEY_B", "sk-from-env-a") // same secret: a duplicate
	s := provision(t, StaticKey{Key: "{env.XJP_TEST_KEY_A}", Tenant: "acme"})
	if _, err := s.Authenticate(context.Background(), "sk-from-env-a"); err != nil {
		t.Fatalf("resolved key refused: %v", err)
	}
	if _, err := s.Authenticate(context.Background(), "{env.XJP_TEST_KEY_A}"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("the placeholder text itself was accepted: %v", err)
	}
	if s.Keys[0].Key != "{env.XJP_TEST_KEY_A}" {
		t.Errorf("config rewritten to %q; the secret must not be written back", s.Keys[0].Key)
	}

	dup := &StaticStore{Keys: []StaticKey{
		{Key: "{env.XJP_TEST_KEY_A}", Tenant: "a"},
		{Key: "{env.XJP_TEST_KEY_B}", Tenant: "b"},
	}}
	if err := dup.Provision(caddy.Context{}); err == nil {
		t.Error("two placeholders resolving to the same secret were accepted")
	}
}

func TestStaticStoreAuthenticate(t *testing.T) {
	t.Parallel()
	s := provision(t,
		StaticKey{Key: "sk-alice-0123456789", Tenant: "acme", Name: "alice", Models: []string{"gpt-*"}},
		StaticKey{Key: "sk-bob-9876543210", Tenant: "globex"},
	)
	tests := []struct {
		name   string
		secret string
		tenant string // "" for a miss
	}{
		{"hit", "sk-alice-0123456789", "acme"},
		{"second key", "sk-bob-9876543210", "globex"},
		{"miss", "sk-mallory", ""},
		{"prefix of a key", "sk-alice-012345678", ""},
		{"key with trailing space", "sk-alice-0123456789 ", ""},
		{"different case", "SK-ALICE-0123456789", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k, err := s.Authenticate(context.Background(), tt.secret)
			if tt.tenant == "" {
				if !errors.Is(err, ErrUnknownKey) || k != nil {
					t.Fatalf("Authenticate = %+v, %v; want ErrUnknownKey", k, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if k.Tenant != tt.tenant {
				t.Errorf("tenant = %q, want %q", k.Tenant, tt.tenant)
			}
			if k.ID == "" || !strings.HasPrefix(k.ID, "static-") {
				t.Errorf("ID = %q", k.ID)
			}
			if strings.Contains(k.ID, tt.secret) || strings.Contains(k.ID, strings.TrimPrefix(tt.secret, "sk-")) {
				t.Errorf("ID %q contains the secret", k.ID)
			}
		})
	}

	a, _ := s.Authenticate(context.Background(), "sk-alice-0123456789")
	b, _ := s.Authenticate(context.Background(), "sk-bob-9876543210")
	if a.ID == b.ID {
		t.Errorf("two keys share the ID %q", a.ID)
	}
	if a.Name != "alice" || !reflect.DeepEqual(a.Models, []string{"gpt-*"}) {
		t.Errorf("key = %+v", a)
	}
	again, _ := s.Authenticate(context.Background(), "sk-alice-0123456789")
	if again.ID != a.ID {
		t.Errorf("ID not stable: %q then %q", a.ID, again.ID)
	}
	// A fresh store from the same config gives the same IDs (usage rows
	// survive a reload).
	s2 := provision(t, StaticKey{Key: "sk-alice-0123456789", Tenant: "acme"})
	if k, _ := s2.Authenticate(context.Background(), "sk-alice-0123456789"); k.ID != a.ID {
		t.Errorf("ID changed across provisioning: %q vs %q", k.ID, a.ID)
	}
}

func TestStaticStoreEmpty(t *testing.T) {
	t.Parallel()
	s := provision(t)
	if _, err := s.Authenticate(context.Background(), "anything"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v", err)
	}
}

func TestStaticStoreUnmarshalCaddyfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		input   string
		want    []StaticKey
		fail    bool
		mention string // substring of the error
	}{
		{
			name: "valid lines",
			input: `keys {
				key sk-alice tenant acme name alice models gpt-* claude-*
				key {env.BOB_KEY} tenant globex
				key sk-carol name "Carol C" tenant initech
			}`,
			want: []StaticKey{
				{Key: "sk-alice", Tenant: "acme", Name: "alice", Models: []string{"gpt-*", "claude-*"}},
				{Key: "{env.BOB_KEY}", Tenant: "globex"},
				{Key: "sk-carol", Tenant: "initech", Name: "Carol C"},
			},
		},
		{name: "empty block", input: "keys {\n}"},
		{name: "no block", input: `keys`},
		{name: "missing tenant", input: "keys {\n\tkey sk-a name alice\n}", fail: true, mention: "tenant"},
		{name: "tenant without value", input: "keys {\n\tkey sk-a tenant\n}", fail: true},
		{name: "key without secret", input: "keys {\n\tkey\n}", fail: true},
		{name: "models without globs", input: "keys {\n\tkey sk-a tenant t models\n}", fail: true},
		{name: "unknown key option", input: "keys {\n\tkey sk-a tenant t quota 5\n}", fail: true, mention: "quota"},
		{name: "unknown directive", input: "keys {\n\tsecret sk-a tenant t\n}", fail: true, mention: "secret"},
		{name: "argument after keys", input: "keys extra {\n}", fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s StaticStore
			err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.fail {
				if err == nil {
					t.Fatalf("no error; keys %+v", s.Keys)
				}
				if !strings.Contains(err.Error(), tt.mention) {
					t.Errorf("err = %v, want it to mention %q", err, tt.mention)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Keys, tt.want) {
				t.Fatalf("keys = %+v, want %+v", s.Keys, tt.want)
			}
		})
	}
}

func TestAllowsModel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		models []string
		name   string
		want   bool
	}{
		{nil, "anything", true},
		{[]string{}, "anything", true},
		{[]string{"gpt-4o"}, "gpt-4o", true},
		{[]string{"gpt-4o"}, "gpt-4o-mini", false},
		{[]string{"gpt-*"}, "gpt-4o-mini", true},
		{[]string{"gpt-*"}, "claude-sonnet", false},
		{[]string{"gpt-*", "claude-*"}, "claude-sonnet", true},
		{[]string{"*"}, "anything", true},
		{[]string{"*"}, "anthropic/claude", false}, // path.Match: * does not cross /
		{[]string{"anthropic/*"}, "anthropic/claude-sonnet-4.5", true},
		{[]string{"gpt-4?"}, "gpt-4o", true},
		{[]string{"gpt-[34]*"}, "gpt-5", false},
		{[]string{"[bad"}, "[bad", false}, // a malformed pattern matches nothing
		{[]string{"GPT-*"}, "gpt-4o", false},
	}
	for _, tt := range tests {
		k := &Key{Models: tt.models}
		if got := k.AllowsModel(tt.name); got != tt.want {
			t.Errorf("Models %q AllowsModel(%q) = %v, want %v", tt.models, tt.name, got, tt.want)
		}
	}
}

func TestKeyFromRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"none", nil, ""},
		{"bearer", map[string]string{"Authorization": "Bearer sk-abc"}, "sk-abc"},
		{"bearer lower case", map[string]string{"Authorization": "bearer sk-abc"}, "sk-abc"},
		{"bearer upper case", map[string]string{"Authorization": "BEARER sk-abc"}, "sk-abc"},
		{"bearer mixed case", map[string]string{"Authorization": "bEaReR sk-abc"}, "sk-abc"},
		{"bearer extra spaces", map[string]string{"Authorization": "Bearer   sk-abc  "}, "sk-abc"},
		{"bearer without token", map[string]string{"Authorization": "Bearer"}, ""},
		{"bearer with blank token", map[string]string{"Authorization": "Bearer    "}, ""},
		{"basic", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, ""},
		{"token scheme", map[string]string{"Authorization": "Token sk-abc"}, ""},
		{"raw key in authorization", map[string]string{"Authorization": "sk-abc"}, ""},
		{"bearer prefix without space", map[string]string{"Authorization": "Bearersk-abc"}, ""},
		{"x-api-key", map[string]string{"X-Api-Key": "sk-ant-abc"}, "sk-ant-abc"},
		{"x-api-key lower-case name", map[string]string{"x-api-key": " sk-ant-abc "}, "sk-ant-abc"},
		{"bearer wins over x-api-key", map[string]string{"Authorization": "Bearer sk-abc", "X-Api-Key": "sk-ant"}, "sk-abc"},
		{"non-bearer authorization does not fall back", map[string]string{"Authorization": "Basic x", "X-Api-Key": "sk-ant"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := KeyFromRequest(r); got != tt.want {
				t.Fatalf("KeyFromRequest = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCaddyModule(t *testing.T) {
	t.Parallel()
	info := StaticStore{}.CaddyModule()
	if info.ID != "http.xjp_gateway.key_stores.static" {
		t.Errorf("ID = %q", info.ID)
	}
	if _, ok := info.New().(*StaticStore); !ok {
		t.Errorf("New() = %T", info.New())
	}
}

// Regression: KeyFromRequest (auth/auth.go) trims the key a client presents, but
// StaticStore.Provision (auth/static.go, `secret := repl.ReplaceAll(k.Key,
// "")`) keeps the configured secret as it is. A key whose resolved value
// has surrounding whitespace (an env var or secret file with a trailing
// space or an extra newline, or a JSON config typo) is accepted at
// provisioning and can then never authenticate; a whitespace-only key even
// passes the "empty" check. connectors.ResolveSecret trims for upstream
// keys. Fix: `secret := strings.TrimSpace(repl.ReplaceAll(k.Key, ""))`
// before the empty check.
func TestStaticStoreSecretWhitespace(t *testing.T) {
	t.Parallel()
	s := &StaticStore{Keys: []StaticKey{{Key: "sk-padded-123 \n", Tenant: "acme"}}}
	if err := s.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.Header.Set("Authorization", "Bearer sk-padded-123 ")
	if _, err := s.Authenticate(context.Background(), KeyFromRequest(r)); err != nil {
		t.Errorf("the configured key cannot be presented: %v", err)
	}

	blank := &StaticStore{Keys: []StaticKey{{Key: "   ", Tenant: "acme"}}}
	if err := blank.Provision(caddy.Context{}); err == nil {
		t.Errorf("a whitespace-only key was accepted")
	}
}
