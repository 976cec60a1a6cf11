package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// Secret hygiene: with every log at DEBUG, drive the gateway through its
// error paths (bad and missing keys, every upstream error status with
// upstreams that echo the credentials they were sent, mid-stream errors,
// unreachable providers, the key store down) and scan everything it
// wrote (its log, the access log, every response body and header) for
// the client key, the provider keys, the service-account key, the Google
// access token, the pepper and the database password.

const (
	hygienePepper     = "pepper-9f8e7d6c5b4a3928"
	hygieneDBPassword = "dbpass-4c3b2a1908f7e6d5"
	hygieneGeminiKey  = "AIzaSyHYGIENE0123456789abcdefghijklmn"
)

func hygieneConfig(dsn, logDir string, refused string) (globals, sites string) {
	globals = fmt.Sprintf(`	log {
		output file %s
		format json
		level DEBUG
	}`, filepath.Join(logDir, "caddy.log"))
	sites = fmt.Sprintf(`
:%[1]d {
	log {
		output file %[2]s
		format filter {
			wrap json
			request>headers>X-Api-Key delete
		}
	}
	xjp_gateway {
		provider or openrouter {
			base_url %[3]s/or/api/v1
			api_key %[4]s
		}
		provider ant anthropic {
			base_url %[3]s/ant
			api_key %[5]s
		}
		provider vx vertex {
			base_url %[3]s/vx
			location us-central1
			credentials_file %[6]s
		}
		provider gm gemini {
			base_url %[3]s/gm
			api_key %[7]s
		}
		provider gone openrouter {
			base_url %[8]s
			api_key %[4]s
		}
		model m-or {
			primary or openai/gpt-4o
		}
		model m-ant {
			primary ant claude-sonnet-4-5
		}
		model m-vx {
			primary vx gemini-2.5-flash
		}
		model m-gm {
			primary gm gemini-2.5-flash
		}
		model m-gone {
			primary gone openai/gpt-4o
		}
		auth postgres {
			dsn "%[9]s"
			pepper %[10]s
			cache_ttl 1h
			negative_cache_ttl 1h
			usage {
				flush_interval 20ms
			}
		}
		retry {
			attempts 1
		}
	}
}
`, ports.http, filepath.Join(logDir, "access.log"), fake.srv.URL, providerKey, anthropicKey,
		googleAuth().credentials, hygieneGeminiKey, refused, dsn, hygienePepper)
	return globals, sites
}

// echoCredentials is an upstream that answers status with an error body
// quoting every credential header it was sent, in a shape each provider
// type reads; stream answers start and then fail the same way.
func echoCredentials(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var creds []string
		for _, h := range []string{"Authorization", "X-Api-Key", "X-Goog-Api-Key"} {
			if v := r.Header.Get(h); v != "" {
				creds = append(creds, h+": "+v)
			}
		}
		msg, _ := json.Marshal("credentials refused: " + strings.Join(creds, "; "))
		body := fmt.Sprintf(`{"type":"error","error":{"type":"invalid_request_error","code":%d,"status":"INVALID_ARGUMENT","message":%s}}`, status, msg)
		if status != 200 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		switch {
		case strings.HasPrefix(r.URL.Path, "/ant/"):
			_, _ = io.WriteString(w, antStart+"event: error\ndata: "+body+"\n\n")
		case strings.HasPrefix(r.URL.Path, "/or/"):
			_, _ = io.WriteString(w, orChunk("Once")+"data: "+body+"\n\n")
		default: // Gemini: a chunk, then a bare error object
			_, _ = io.WriteString(w, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Once"}]}}]}`+"\n\n"+body+"\n")
		}
	}
}

func TestNoSecretInAnyOutput(t *testing.T) {
	base := pgtest.Migrated(t)
	proxy := pgtest.NewProxy(t, pgtest.Host(t, base))
	dsn := pgtest.WithParam(pgtest.WithHost(t, base, proxy.Addr()), "password", hygieneDBPassword)
	admin := newKeyAdmin(t, base)
	key, err := postgres.CreateKey(context.Background(), admin.conn, postgres.NewHasher(hygienePepper), postgres.KeySpec{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/api/v1"
	_ = l.Close()
	globals, sites := hygieneConfig(dsn, logDir, refused)
	loadCaddyfileGlobals(t, globals, sites)

	outputs := map[string]string{}
	var responses strings.Builder
	client := &http.Client{Timeout: 20 * time.Second} // a hang guard only
	call := func(dialect, secret, model string, stream bool) int {
		t.Helper()
		var req *http.Request
		if dialect == "openai" {
			req, _ = http.NewRequest("POST", gatewayURL(ports.http)+"/v1/chat/completions",
				strings.NewReader(fmt.Sprintf(`{"model":%q,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, model, stream)))
			if secret != "" {
				req.Header.Set("Authorization", "Bearer "+secret)
			}
		} else {
			req, _ = http.NewRequest("POST", gatewayURL(ports.http)+"/v1/messages",
				strings.NewReader(fmt.Sprintf(`{"model":%q,"stream":%v,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, model, stream)))
			req.Header.Set("Anthropic-Version", "2023-06-01")
			if secret != "" {
				req.Header.Set("X-Api-Key", secret)
			}
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var h bytes.Buffer
		_ = resp.Header.Write(&h)
		fmt.Fprintf(&responses, "%s %s stream=%v: %d\n%s\n%s\n", dialect, model, stream, resp.StatusCode, h.String(), b)
		return resp.StatusCode
	}

	dialects := []string{"openai", "anthropic"}
	// Authentication failures: none, a wrong key, a near miss of the
	// real one.
	for _, d := range dialects {
		call(d, "", "m-or", false)
		call(d, "XJP_not-a-key", "m-or", false)
		call(d, key.Secret[:len(key.Secret)-1]+"A", "m-or", false)
	}
	// Every upstream error status, and mid-stream errors, from upstreams
	// that quote the credentials they got.
	for _, status := range []int{200, 400, 401, 402, 403, 404, 429, 500, 503} {
		fake.reset(t, echoCredentials(status))
		for _, model := range []string{"m-or", "m-ant", "m-vx", "m-gm"} {
			for _, d := range dialects {
				for _, stream := range []bool{false, true} {
					if got := call(d, key.Secret, model, stream); status != 200 && got == 200 {
						t.Errorf("%s %s stream=%v: 200 for an upstream %d", d, model, stream, status)
					}
				}
			}
		}
	}
	// An unreachable provider.
	for _, d := range dialects {
		call(d, key.Secret, "m-gone", true)
	}
	// The key store down: a key the cache does not know.
	proxy.Stop()
	for _, d := range dialects {
		if got := call(d, "XJP_"+strings.Repeat("b", 43), "m-or", false); got != 503 {
			t.Errorf("key store down: %d, want 503", got)
		}
	}
	proxy.Start()

	// Let the logs reach their files: the next load closes them.
	loadCaddyfile(t, validationConfig())
	for _, name := range []string{"caddy.log", "access.log"} {
		b, err := os.ReadFile(filepath.Join(logDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("%s is empty", name)
		}
		outputs[name] = string(b)
	}
	outputs["responses"] = responses.String()
	// Every metric series and label the error paths left behind.
	outputs["metrics"] = scrape(t, fmt.Sprintf("http://localhost:%d/metrics", ports.admin))
	if !strings.Contains(outputs["metrics"], "xjp_requests_total{") {
		t.Error("no xjp_ series in the metrics: the scan would see nothing")
	}
	if !strings.Contains(outputs["caddy.log"], `"msg":"key store database"`) {
		t.Error("the gateway's debug line is not in the log: the test does not run at debug level")
	}
	if !strings.Contains(outputs["caddy.log"], "key store failed") {
		t.Error("the key store outage was not logged: the test missed that path")
	}

	pem := googleServiceAccountKey(t)
	secrets := map[string]string{
		// The key prefix (XJP_ and 8 characters) is public by design.
		"client key":          key.Secret[postgres.DisplayPrefixLen:],
		"openrouter key":      providerKey,
		"anthropic key":       anthropicKey,
		"gemini key":          hygieneGeminiKey,
		"service-account key": pem,
		"google access token": googleAccessToken,
		"pepper":              hygienePepper,
		"database password":   hygieneDBPassword,
	}
	for _, leak := range secretLeaks(secrets, outputs) {
		t.Error(leak)
	}
}

// googleServiceAccountKey is the private key of the test's service
// account.
func googleServiceAccountKey(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(googleAuth().credentials)
	if err != nil {
		t.Fatal(err)
	}
	var sa struct {
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(b, &sa); err != nil || sa.PrivateKey == "" {
		t.Fatalf("service account: %v", err)
	}
	return sa.PrivateKey
}
