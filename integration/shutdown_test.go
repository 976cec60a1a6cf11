package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/xiaojinpro/xjp-gateway/auth/postgres"
	"github.com/xiaojinpro/xjp-gateway/internal/pgtest"
)

// A gateway process stopped with SIGINT while streams are running lets
// them finish and writes every usage row before it exits. The rows can
// only come from the shutdown: the flush interval is an hour.
func TestShutdownUnderLoadLosesNoUsageRow(t *testing.T) {
	dsn := pgtest.Migrated(t)
	admin := newKeyAdmin(t, dsn)
	k := admin.create(postgres.KeySpec{})

	port, gw, exited := startGatewayProcess(t, dsn, "1m", "5ms")

	const clients = 30
	var started, done sync.WaitGroup
	started.Add(clients)
	errs := make(chan error, clients)
	for i := range clients {
		done.Go(func() { errs <- streamSlowlyTo(port, k.Secret, i, &started) })
	}
	started.Wait()
	if err := gw.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a stream did not complete across the shutdown: %v", err)
		}
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the gateway exited with %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the gateway did not exit within a minute of SIGINT")
	}
	if n := admin.count("SELECT count(*) FROM usage_logs WHERE status = 200"); n != clients {
		t.Fatalf("%d usage rows after the shutdown, want %d", n, clients)
	}
}

// gatewayBinary is cmd/xjp-caddy, built once for the tests that run the
// gateway as a process of its own.
var gatewayBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "xjp-caddy")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/xiaojinpro/xjp-gateway/cmd/xjp-caddy")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the gateway: %v\n%s", err, out)
	}
	return bin, nil
})

// startGatewayProcess runs the gateway as a process of its own, with the
// echo provider (chunkDelay between words), keys in the database at dsn,
// usage rows flushed only at exit, and Caddy's grace period grace. It
// returns once the gateway listens, on port; exited reports its exit. The
// process is killed at the end of the test, and its log shown if the test
// failed.
func startGatewayProcess(t *testing.T, dsn, grace, chunkDelay string) (port int, gw *exec.Cmd, exited <-chan error) {
	t.Helper()
	bin, err := gatewayBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port, err = freePort()
	if err != nil {
		t.Fatal(err)
	}
	adminPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "Caddyfile")
	err = os.WriteFile(config, fmt.Appendf(nil, `{
	admin localhost:%d
	persist_config off
	grace_period %s
}
:%d {
	xjp_gateway {
		provider echo echo {
			chunk_delay %s
		}
		model echo-1 {
			primary echo
		}
		auth postgres {
			dsn {env.XJP_DATABASE_URL}
			usage {
				flush_interval 1h
			}
		}
	}
}
`, adminPort, grace, port, chunkDelay), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	gw = exec.Command(bin, "run", "--config", config)
	gw.Env = append(os.Environ(), "XJP_DATABASE_URL="+dsn,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	logs, err := os.Create(filepath.Join(dir, "gateway.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	gw.Stdout, gw.Stderr = logs, logs
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Wait() }()
	t.Cleanup(func() {
		_ = gw.Process.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(logs.Name())
			t.Logf("gateway log:\n%s", b)
		}
	})
	waitListening(t, port, done)
	return port, gw, done
}

// waitListening waits until the gateway accepts connections on port.
func waitListening(t *testing.T, port int, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("the gateway exited before listening: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway does not listen on %d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
