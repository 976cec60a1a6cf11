package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xiaojinpro/xjp-gateway/bench/loadgen"
)

// benchKey is the client key every lane sends; the gateway's static key
// store knows it, and the mock and Caddy ignore it.
const benchKey = "xjp-bench-key"

// env is the bench's workspace: where binaries, configs, logs and results go,
// and how processes are pinned to cores.
type env struct {
	dir      string // scratch directory
	out      string // results directory
	self     string // this binary
	caddy    string // the xjp-caddy binary
	loadCPUs string // taskset list for the load generator and the mock ("" = unpinned)
	gwCPUs   string // taskset list for Caddy and the gateway
	verbose  bool
}

// proc is a child process we started.
type proc struct {
	name  string
	cmd   *exec.Cmd
	addr  string // host:port it serves
	admin string // Caddy admin address, if any
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the process we started (by its own pid) and waits for it.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// command builds a command pinned to cpus with taskset (when set).
func (e *env) command(ctx context.Context, cpus, bin string, args ...string) *exec.Cmd {
	if cpus != "" {
		args = append([]string{"-c", cpus, bin}, args...)
		bin = "taskset"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// start runs a long-lived process with its output in <out>/<name>.log and
// waits until addr accepts connections.
func (e *env) start(ctx context.Context, name, cpus, addr string, environ []string, bin string, args ...string) (*proc, error) {
	cmd := e.command(ctx, cpus, bin, args...)
	logf, err := os.Create(filepath.Join(e.out, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), environ...)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, addr: addr}
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			p.stop()
			return nil, fmt.Errorf("%s did not start listening on %s; see %s", name, addr, logf.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) startMock(ctx context.Context, chunks int, delay time.Duration) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return e.start(ctx, "mock", e.loadCPUs, addr, nil, e.self, "mock", "-addr", addr,
		"-chunks", strconv.Itoa(chunks), "-delay", delay.String())
}

// startCaddy runs the xjp-caddy binary with a Caddyfile whose only site
// block is site (with %[1]s for the listen address).
func (e *env) startCaddy(ctx context.Context, name, site string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cfg := fmt.Sprintf(`{
	admin %s
	persist_config off
	auto_https off
	skip_install_trust
	default_bind 127.0.0.1
}

:%s {
%s
}
`, admin, port, site)
	file := filepath.Join(e.dir, name+".Caddyfile")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	home := filepath.Join(e.dir, name+"-home")
	environ := []string{"XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "XDG_DATA_HOME=" + filepath.Join(home, "data")}
	p, err := e.start(ctx, name, e.gwCPUs, addr, environ, e.caddy, "run", "--config", file, "--adapter", "caddyfile")
	if p != nil {
		p.admin = admin
	}
	return p, err
}

// proxySite is stock Caddy reverse_proxy to the mock. Its keep-alive pool
// is sized like the gateway's (Caddy's default keeps 32 idle connections
// per host, which would make it reconnect at concurrency 128): the
// comparison is of handlers, not of pool settings.
func proxySite(mockAddr string, idle int) string {
	if idle <= 0 {
		return "\treverse_proxy " + mockAddr
	}
	return fmt.Sprintf("\treverse_proxy %s {\n\t\ttransport http {\n\t\t\tkeepalive_idle_conns_per_host %d\n\t\t}\n\t}", mockAddr, idle)
}

// gatewaySite is the gateway with static-key auth: bench-mock goes to the
// mock through the openai provider, bench-echo to the echo provider.
func gatewaySite(mockAddr string) string {
	return fmt.Sprintf(`	xjp_gateway {
		provider mock openai {
			base_url http://%s/v1
			api_key sk-bench-upstream
		}
		provider echo echo
		model bench-mock {
			primary mock mock-model
		}
		model bench-echo {
			primary echo
		}
		keys {
			key %s tenant bench
		}
	}`, mockAddr, benchKey)
}

// clusterSite is gatewaySite with the cluster limiter: every request is
// admitted by one script call to the Redis at redisURL, against limits
// high enough never to refuse (the cost measured is the call's).
func clusterSite(mockAddr, redisURL string) string {
	site := gatewaySite(mockAddr)
	return strings.TrimSuffix(site, "\t}") + fmt.Sprintf(`	rate_limit {
			default_rpm 1000000000
			default_tpm 1000000000
			store redis %s {
				prefix xjp-bench:rl:
				on_failure closed
			}
		}
	}`, redisURL)
}

// load runs one load-generator child pinned beside the mock and returns
// its result.
func (e *env) load(ctx context.Context, args []string) (*loadgen.Result, error) {
	cmd := e.command(ctx, e.loadCPUs, e.self, append([]string{"load"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", strings.Join(args, " "), err)
	}
	var res loadgen.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("load output: %w", err)
	}
	return &res, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// goroutines reads the goroutine count from Caddy's admin pprof endpoint.
func goroutines(admin string) int {
	resp, err := http.Get("http://" + admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	_, _ = io.Copy(io.Discard, resp.Body)
	// "goroutine profile: total 1234"
	n, err := strconv.Atoi(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]))
	if err != nil {
		return -1
	}
	return n
}

// openFiles counts the file descriptors process pid holds.
func openFiles(pid int) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// raiseFileLimit lifts the soft open-files limit to the hard one (children
// inherit it) and returns it.
func raiseFileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

// profile saves a CPU profile of a Caddy process taken over the next
// seconds, via its admin endpoint.
func profile(admin string, seconds int, file string) error {
	c := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, seconds))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// heapProfile saves a heap profile of a Caddy process.
func heapProfile(admin, file string) error {
	resp, err := http.Get("http://" + admin + "/debug/pprof/heap")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// setup prepares the workspace: the scratch and results directories, this
// binary's path, the xjp-caddy binary (built from the repository unless
// given) and the pinning plan.
func setup(ctx context.Context, repo, caddyBin, outDir, pin string) (*env, error) {
	e := &env{out: outDir}
	var err error
	if e.dir, err = os.MkdirTemp("", "xjp-bench-"); err != nil {
		return nil, err
	}
	if e.out == "" {
		e.out = filepath.Join("results", time.Now().Format("20060102-150405"))
	}
	if err := os.MkdirAll(e.out, 0o755); err != nil {
		return nil, err
	}
	if e.self, err = os.Executable(); err != nil {
		return nil, err
	}
	e.caddy = caddyBin
	if e.caddy == "" {
		e.caddy = filepath.Join(e.dir, "xjp-caddy")
		fmt.Fprintf(os.Stderr, "building %s/cmd/xjp-caddy …\n", repo)
		build := exec.CommandContext(ctx, "go", "build", "-o", e.caddy, "./cmd/xjp-caddy")
		build.Dir = repo
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return nil, fmt.Errorf("building xjp-caddy: %w", err)
		}
	}
	switch pin {
	case "split":
		if _, err := exec.LookPath("taskset"); err != nil {
			return nil, fmt.Errorf("-pin split needs taskset (util-linux)")
		}
		n := numCPU()
		if n < 2 {
			return nil, fmt.Errorf("-pin split needs 2 cores; this machine has %d (use -pin none)", n)
		}
		// Core 0: load generator and mock. Core 1 (and any further
		// cores): the process under test.
		e.loadCPUs, e.gwCPUs = "0", "1"
		if n > 2 {
			e.gwCPUs = "1-" + strconv.Itoa(n-1)
		}
	case "none":
	default:
		load, gw, ok := strings.Cut(pin, "/")
		if !ok {
			return nil, fmt.Errorf("-pin must be split, none or LOADCPUS/GATEWAYCPUS (taskset lists, e.g. 0/1)")
		}
		e.loadCPUs, e.gwCPUs = load, gw
	}
	return e, nil
}

func (e *env) cleanup() { _ = os.RemoveAll(e.dir) }
