package gemini

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"github.com/caddyserver/caddy/v2"
	"github.com/go-json-experiment/json"
	"go.uber.org/zap"
)

// cloudPlatformScope is the OAuth scope Vertex AI accepts.
const cloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// Token timing. Google's access tokens live an hour; the library refreshes
// a token in the background once it is within earlyRefresh of expiring,
// and the refresher below makes sure that happens even when no request
// arrives in that window, so no request ever waits for a token after the
// first one.
const (
	earlyRefresh = 5 * time.Minute
	refreshEvery = time.Minute
	fetchTimeout = 30 * time.Second
)

// tokenPool holds the token sources of all Vertex providers, keyed by their
// credentials, so that a config reload keeps the cached token and its
// refresher instead of fetching a new token.
var tokenPool = caddy.NewUsagePool()

// tokenOptions tune a token source; tests shorten them.
type tokenOptions struct {
	earlyRefresh time.Duration // how long before expiry a token is renewed
	refreshEvery time.Duration // background check interval; 0 disables it
}

// tokenSource hands out OAuth access tokens for Vertex AI from a
// service-account (or other Google credentials) file, or from the
// metadata server when the gateway runs on Google Cloud. Tokens are cached
// and renewed in the background by cloud.google.com/go/auth.
type tokenSource struct {
	opts tokenOptions
	// creds is set at construction from a credentials file, or on first
	// use from the metadata server (finding it needs network I/O, which
	// Provision must not do).
	creds        atomic.Pointer[auth.Credentials]
	detectMu     sync.Mutex
	projectID    string // from the credentials file, "" when unknown
	quotaProject string // billed project for user credentials

	logger  *zap.Logger
	stop    chan struct{}
	stopped sync.Once
	lastErr string // last refresh error logged, to log each kind once

	// sent is the access token last put on a request, scrubbed from
	// upstream messages that quote it.
	sent atomic.Pointer[string]
}

// lastSent returns the access token last sent, or "".
func (ts *tokenSource) lastSent() string {
	if p := ts.sent.Load(); p != nil {
		return *p
	}
	return ""
}

// credentialsJSON finds the credentials as Application Default Credentials
// do, without network I/O: the given file, then
// $GOOGLE_APPLICATION_CREDENTIALS, then gcloud's well-known file. It
// returns nil data (and no error) when none exists, which means: ask the
// metadata server.
func credentialsJSON(file string) (data []byte, source string, err error) {
	if file == "" {
		file = os.Getenv("GOOGLE_APPLICATION_CREDENTIALS")
	}
	if file != "" {
		data, err = os.ReadFile(file)
		if err != nil {
			return nil, "", fmt.Errorf("reading credentials: %w", err)
		}
		return data, file, nil
	}
	wellKnown := gcloudCredentialsFile()
	if data, err = os.ReadFile(wellKnown); err == nil {
		return data, wellKnown, nil
	}
	return nil, "metadata server", nil
}

// gcloudCredentialsFile is where `gcloud auth application-default login`
// writes user credentials.
func gcloudCredentialsFile() string {
	if runtime.GOOS == "windows" {
		return filepath.Join(os.Getenv("APPDATA"), "gcloud", "application_default_credentials.json")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
}

// poolKey identifies credentials in tokenPool without holding them.
func poolKey(data []byte) string {
	if data == nil {
		return "vertex-tokens:metadata"
	}
	sum := sha256.Sum256(data)
	return "vertex-tokens:" + hex.EncodeToString(sum[:])
}

// newTokenSource builds a token source from credentials JSON, or for the
// metadata server when data is nil. It does no network I/O.
func newTokenSource(data []byte, opts tokenOptions, logger *zap.Logger) (*tokenSource, error) {
	ts := &tokenSource{opts: opts, logger: logger, stop: make(chan struct{})}
	if data != nil {
		creds, err := credentialsFromJSON(data, opts)
		if err != nil {
			return nil, err
		}
		ts.creds.Store(creds)
		ctx := context.Background() // both properties are read from the file
		ts.projectID, _ = creds.ProjectID(ctx)
		ts.quotaProject, _ = creds.QuotaProjectID(ctx)
	}
	if opts.refreshEvery > 0 {
		go ts.refresh()
	}
	return ts, nil
}

// credentialsFromJSON accepts the credential types a server can use and
// checks a service account's key now rather than on the first request.
func credentialsFromJSON(data []byte, opts tokenOptions) (*auth.Credentials, error) {
	var head struct {
		Type       string `json:"type"`
		PrivateKey string `json:"private_key"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("credentials are not valid JSON: %w", err)
	}
	switch credentials.CredType(head.Type) {
	case credentials.ServiceAccount:
		if err := checkPrivateKey(head.PrivateKey); err != nil {
			return nil, err
		}
	case credentials.AuthorizedUser, credentials.ExternalAccount, credentials.ImpersonatedServiceAccount:
	case "":
		return nil, errors.New(`credentials have no "type"`)
	default:
		return nil, fmt.Errorf("credentials of type %q are not supported (use service_account, authorized_user, external_account or impersonated_service_account)", head.Type)
	}
	return credentials.NewCredentialsFromJSON(credentials.CredType(head.Type), data, &credentials.DetectOptions{
		Scopes:            []string{cloudPlatformScope},
		EarlyTokenRefresh: opts.earlyRefresh,
	})
}

func checkPrivateKey(key string) error {
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return errors.New("the service account's private_key is not a PEM key")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	return errors.New("the service account's private_key cannot be parsed")
}

// credentials returns the credentials, finding the metadata server's on
// first use.
func (ts *tokenSource) credentials() (*auth.Credentials, error) {
	if c := ts.creds.Load(); c != nil {
		return c, nil
	}
	ts.detectMu.Lock()
	defer ts.detectMu.Unlock()
	if c := ts.creds.Load(); c != nil {
		return c, nil
	}
	c, err := credentials.DetectDefault(&credentials.DetectOptions{
		Scopes:            []string{cloudPlatformScope},
		EarlyTokenRefresh: ts.opts.earlyRefresh,
	})
	if err != nil {
		return nil, err
	}
	ts.creds.Store(c)
	return c, nil
}

// token returns a valid access token: the cached one, unless none has been
// fetched yet or it has expired (the refresher prevents both after start).
func (ts *tokenSource) token(ctx context.Context) (*auth.Token, error) {
	c, err := ts.credentials()
	if err != nil {
		return nil, err
	}
	return c.Token(ctx)
}

// authorize sets the Authorization (and quota project) headers.
func (ts *tokenSource) authorize(ctx context.Context, h http.Header) error {
	tok, err := ts.token(ctx)
	if err != nil {
		return err
	}
	typ := tok.Type
	if typ == "" {
		typ = "Bearer"
	}
	h.Set("Authorization", typ+" "+tok.Value)
	if p := ts.sent.Load(); p == nil || *p != tok.Value {
		v := tok.Value
		ts.sent.Store(&v)
	}
	if ts.quotaProject != "" {
		h.Set("X-Goog-User-Project", ts.quotaProject)
	}
	return nil
}

// refresh asks for a token right away (so the first request finds one)
// and then periodically, which lets the library renew a stale token in the
// background even when the gateway is idle.
func (ts *tokenSource) refresh() {
	ticker := time.NewTicker(ts.opts.refreshEvery)
	defer ticker.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		_, err := ts.token(ctx)
		cancel()
		ts.logRefresh(err)
		select {
		case <-ts.stop:
			return
		case <-ticker.C:
		}
	}
}

func (ts *tokenSource) logRefresh(err error) {
	if ts.logger == nil {
		return
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == ts.lastErr {
		return
	}
	ts.lastErr = msg
	if err != nil {
		ts.logger.Error("cannot get a Google access token", zap.Error(err))
	} else {
		ts.logger.Info("Google access token ready")
	}
}

// Destruct stops the refresher when the last config using the source is
// unloaded.
func (ts *tokenSource) Destruct() error {
	ts.stopped.Do(func() { close(ts.stop) })
	return nil
}

var _ caddy.Destructor = (*tokenSource)(nil)
