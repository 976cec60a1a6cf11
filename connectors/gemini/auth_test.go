package gemini

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testRSAKey is generated once: RSA key generation is slow under -race.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// tokenServer is a fake https://oauth2.googleapis.com/token: it checks the
// JWT-bearer grant as Google does (signature, issuer, scope, audience)
// and hands out tok-1, tok-2, …
type tokenServer struct {
	*httptest.Server
	fetches   atomic.Int32
	expiresIn int
	// before, when set, runs before fetch n is answered (tests gate it).
	before func(n int)
}

func newTokenServer(t *testing.T, expiresIn int) *tokenServer {
	t.Helper()
	ts := &tokenServer{expiresIn: expiresIn}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if err := ts.check(r); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, err.Error())
		return
	}
	n := int(ts.fetches.Add(1))
	if ts.before != nil {
		ts.before(n)
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"access_token":"tok-%d","expires_in":%d,"token_type":"Bearer"}`, n, ts.expiresIn)
}

func (ts *tokenServer) check(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		return fmt.Errorf("grant_type %q", g)
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		return fmt.Errorf("assertion is not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&testRSAKey().PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		return fmt.Errorf("bad signature: %w", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	var claims struct {
		Iss, Scope, Aud string
		Exp             int64
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		return err
	}
	if claims.Iss != "gateway@test-project.iam.gserviceaccount.com" || claims.Scope != cloudPlatformScope || claims.Aud != ts.URL+"/token" {
		return fmt.Errorf("claims %+v", claims)
	}
	if time.Until(time.Unix(claims.Exp, 0)) <= 0 {
		return fmt.Errorf("expired assertion")
	}
	return nil
}

// serviceAccountJSON is a service-account key whose token_uri is ts.
func serviceAccountJSON(ts *tokenServer) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(testRSAKey())
	if err != nil {
		panic(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "test-project",
		"private_key_id": "k1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "gateway@test-project.iam.gserviceaccount.com",
		"client_id":      "1234567890",
		"token_uri":      ts.URL + "/token",
	})
	return b
}

func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func bearer(t *testing.T, ts *tokenSource) string {
	t.Helper()
	h := http.Header{}
	if err := ts.authorize(context.Background(), h); err != nil {
		t.Fatalf("authorize: %v", err)
	}
	return h.Get("Authorization")
}

func TestTokensAreCached(t *testing.T) {
	t.Parallel()
	server := newTokenServer(t, 3600)
	ts, err := newTokenSource(serviceAccountJSON(server), tokenOptions{earlyRefresh: 5 * time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Destruct()
	if ts.projectID != "test-project" {
		t.Errorf("projectID = %q", ts.projectID)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got := bearer(t, ts); got != "Bearer tok-1" {
				t.Errorf("Authorization = %q", got)
			}
		})
	}
	wg.Wait()
	if n := server.fetches.Load(); n != 1 {
		t.Errorf("%d token fetches for 50 requests, want 1", n)
	}
}

// TestTokensRefreshBeforeExpiry makes every token stale on arrival (it
// expires in 10 minutes, the refresh window is 30): a request gets the
// current token at once while the next one is fetched in the background.
func TestTokensRefreshBeforeExpiry(t *testing.T) {
	t.Parallel()
	server := newTokenServer(t, 600)
	secondArrived, release := make(chan struct{}), make(chan struct{})
	server.before = func(n int) {
		if n == 2 {
			close(secondArrived)
			<-release // the background refresh hangs until the test lets it go
		}
	}
	ts, err := newTokenSource(serviceAccountJSON(server), tokenOptions{earlyRefresh: 30 * time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Destruct()

	if got := bearer(t, ts); got != "Bearer tok-1" {
		t.Fatalf("first token %q", got)
	}
	// Stale: this returns the cached token although fetch 2 is stuck.
	if got := bearer(t, ts); got != "Bearer tok-1" {
		t.Fatalf("second call got %q, want the cached token", got)
	}
	<-secondArrived
	for range 10 {
		if got := bearer(t, ts); got != "Bearer tok-1" {
			t.Fatalf("while refreshing got %q", got)
		}
	}
	if n := server.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches while one refresh runs, want 2", n)
	}
	close(release)
	deadline := time.Now().Add(20 * time.Second)
	for bearer(t, ts) == "Bearer tok-1" {
		if time.Now().After(deadline) {
			t.Fatal("the refreshed token never replaced the stale one")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRefresherFetchesWithoutRequests(t *testing.T) {
	t.Parallel()
	server := newTokenServer(t, 3600)
	first := make(chan struct{})
	var once sync.Once
	server.before = func(int) { once.Do(func() { close(first) }) }
	ts, err := newTokenSource(serviceAccountJSON(server), tokenOptions{earlyRefresh: time.Minute, refreshEvery: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Destruct()
	<-first // fetched at start, before any request
	if got := bearer(t, ts); got != "Bearer tok-1" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestCredentialsErrors(t *testing.T) {
	t.Parallel()
	server := newTokenServer(t, 3600)
	var sa map[string]string
	_ = json.Unmarshal(serviceAccountJSON(server), &sa)
	with := func(k, v string) []byte {
		m := map[string]string{}
		for kk, vv := range sa {
			m[kk] = vv
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte("nope"), "not valid JSON"},
		{"no type", with("type", ""), `no "type"`},
		{"unsupported type", with("type", "gdch_service_account"), "not supported"},
		{"key not PEM", with("private_key", "MIIEvQ"), "not a PEM key"},
		{"key garbage", with("private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "cannot be parsed"},
	}
	for _, tt := range tests {
		if _, err := newTokenSource(tt.data, tokenOptions{}, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}

	// A key the token endpoint refuses fails the request, not the load.
	ts, err := newTokenSource(with("client_email", "someone@else.iam.gserviceaccount.com"), tokenOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.authorize(context.Background(), http.Header{}); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("authorize with a refused key: %v", err)
	}
}

func TestUserCredentialsQuotaProject(t *testing.T) {
	t.Parallel()
	ts, err := newTokenSource([]byte(`{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","quota_project_id":"billing-proj"}`), tokenOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ts.quotaProject != "billing-proj" || ts.projectID != "" {
		t.Errorf("quota %q project %q", ts.quotaProject, ts.projectID)
	}

	// The quota project is billed through x-goog-user-project.
	server := newTokenServer(t, 3600)
	sa, err := newTokenSource(serviceAccountJSON(server), tokenOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa.quotaProject = "billing-proj"
	h := http.Header{}
	if err := sa.authorize(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if h.Get("X-Goog-User-Project") != "billing-proj" || h.Get("Authorization") != "Bearer tok-1" {
		t.Errorf("headers = %v", h)
	}
}

func TestCredentialsLookup(t *testing.T) {
	// Not parallel: it sets environment variables.
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("APPDATA", dir)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	data, source, err := credentialsJSON("")
	if err != nil || data != nil || source != "metadata server" {
		t.Errorf("nothing configured: %s %q %v", data, source, err)
	}
	if poolKey(nil) != "vertex-tokens:metadata" {
		t.Errorf("poolKey(nil) = %q", poolKey(nil))
	}

	wellKnown := gcloudCredentialsFile()
	if err := os.MkdirAll(filepath.Dir(wellKnown), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wellKnown, []byte(`{"type":"authorized_user"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, source, _ := credentialsJSON(""); string(data) != `{"type":"authorized_user"}` || source != wellKnown {
		t.Errorf("gcloud file: %s %q", data, source)
	}

	env := writeFile(t, []byte(`{"type":"service_account"}`))
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", env)
	if data, source, _ := credentialsJSON(""); string(data) != `{"type":"service_account"}` || source != env {
		t.Errorf("env: %s %q", data, source)
	}
	explicit := writeFile(t, []byte(`{"type":"external_account"}`))
	if data, source, _ := credentialsJSON(explicit); string(data) != `{"type":"external_account"}` || source != explicit {
		t.Errorf("explicit: %s %q", data, source)
	}
	if _, _, err := credentialsJSON(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("a missing credentials file was accepted")
	}
	if poolKey([]byte("a")) == poolKey([]byte("b")) {
		t.Error("different credentials share a pool key")
	}
}
