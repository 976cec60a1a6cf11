// Package integration runs real Caddy with real Caddyfiles and drives the
// gateway with the official SDKs. One Caddy process serves the whole test
// binary, so the tests here run one after another.
package integration

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/xiaojinpro/xjp-gateway"
)

var (
	ports struct{ admin, http, https, alt int }
	// dataDir keeps Caddy's storage (certificates, locks) per test run.
	dataDir string
	// binDir holds the gateway binary of tests that run it as a process.
	binDir string
	// fake is the fake provider every test points the gateway at.
	fake *upstream
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "xjp-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Keep Caddy's autosave and instance id out of the user's home.
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	dataDir = filepath.Join(dir, "storage")
	binDir = filepath.Join(dir, "bin")
	for _, p := range []*int{&ports.admin, &ports.http, &ports.https, &ports.alt} {
		if *p, err = freePort(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	// Start Caddy here rather than letting caddytest do it: caddytest
	// skips every test when Caddy fails to start, and a gateway that does
	// not start must fail the suite.
	if err := caddy.Load([]byte(fmt.Sprintf(`{"admin":{"listen":"localhost:%d"}}`, ports.admin)), true); err != nil {
		fmt.Fprintln(os.Stderr, "starting caddy:", err)
		return 1
	}
	defer caddy.Stop() //nolint:errcheck
	fake = newUpstream()
	defer fake.srv.Close()
	return m.Run()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// loadCaddyfile runs Caddy with the given site blocks under the test's
// global options.
func loadCaddyfile(t *testing.T, sites string) *caddytest.Tester {
	t.Helper()
	return loadCaddyfileGlobals(t, "", sites)
}

// loadCaddyfileGlobals is loadCaddyfile with more global options (a log
// block, say).
func loadCaddyfileGlobals(t *testing.T, globals, sites string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{
		AdminPort:          ports.admin,
		TestRequestTimeout: 30 * time.Second,
		LoadRequestTimeout: 10 * time.Second,
	})
	cfg := fmt.Sprintf(`{
	admin localhost:%d
	persist_config off
	skip_install_trust
	auto_https off
	http_port %d
	https_port %d
	storage file_system %s
%s
}
%s`, ports.admin, ports.http, ports.https, dataDir, globals, sites)
	tester.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	// The previous config's server closes its idle connections as it
	// stops; a POST sent on one of them, pooled by a client, would fail
	// with a reset that Go does not retry.
	http.DefaultClient.CloseIdleConnections()
	// The config ends with the test, before what the test set up before
	// it (a database schema, a fake) is torn down: its gateway may be
	// writing to them until it stops.
	t.Cleanup(func() {
		if err := caddy.Load([]byte(fmt.Sprintf(`{"admin":{"listen":"localhost:%d"}}`, ports.admin)), true); err != nil {
			t.Errorf("unloading the test's config: %v", err)
		}
	})
	return tester
}

func gatewayURL(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }
