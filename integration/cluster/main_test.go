// Package cluster runs three gateway instances as separate processes
// sharing one PostgreSQL schema and one Redis prefix, and checks that
// they behave as one gateway: rate limits, daily quotas, key revocation
// and idempotency keys hold across them.
//
// Caddy keeps one running configuration per process (caddy.Load is
// global), so each instance needs a process of its own. Rather than
// building cmd/xjp-caddy (a second compile of everything), the test
// binary is the gateway: started with XJP_CLUSTER_CHILD set to a
// Caddyfile, it runs Caddy with that Caddyfile until its stdin closes.
package cluster

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/xiaojinpro/xjp-gateway"
)

const childEnv = "XJP_CLUSTER_CHILD"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		runChild(cfg)
		return
	}
	os.Exit(m.Run())
}

// runChild is the gateway process: Caddy with the Caddyfile at cfg. It
// stops gracefully (Caddy's SIGINT handling) when its parent closes its
// stdin, or dies.
func runChild(cfg string) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	os.Args = []string{"caddy", "run", "--config", cfg, "--adapter", "caddyfile"}
	caddycmd.Main()
}

// instance is one gateway process.
type instance struct {
	port int
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *syncBuffer
	done chan struct{}
}

func (i *instance) url() string { return fmt.Sprintf("http://127.0.0.1:%d", i.port) }

// startInstance runs a gateway process serving site (the xjp_gateway
// block's options) on a free port, and waits until it answers.
func startInstance(t *testing.T, name, gateway string) *instance {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	skip_install_trust
	storage file_system %s
}
:%d {
	xjp_gateway {
%s
	}
}
`, filepath.Join(dir, "storage"), port, gateway)
	cfg := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+cfg,
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inst := &instance{port: port, cmd: cmd, in: in, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(inst.done) }()
	t.Cleanup(func() {
		in.Close()
		select {
		case <-inst.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-inst.done
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, out.String())
		}
	})

	deadline := time.Now().Add(60 * time.Second) // a hang guard: startup under -race is slow
	for {
		resp, err := http.Get(inst.url() + "/v1/models")
		if err == nil {
			resp.Body.Close()
			return inst
		}
		select {
		case <-inst.done:
			t.Fatalf("%s exited at startup:\n%s", name, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on port %d:\n%s", name, port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
