package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/xiaojinpro/xjp-gateway/bench/loadgen"
)

// lane is one way through to an answer.
type lane struct {
	name    string
	server  string // which process serves it: mock, caddy or xjp
	dialect string // request dialect
	path    string
	model   string
	// off, when set, says why the lane is left out unless -targets names
	// it. Deleting it is all it takes to enable the lane.
	off string
}

var lanes = []lane{
	{name: "direct", server: "mock", dialect: "openai", path: "/v1/chat/completions", model: "mock-model"},
	{name: "caddy-proxy", server: "caddy", dialect: "openai", path: "/v1/chat/completions", model: "mock-model"},
	{name: "xjp", server: "xjp", dialect: "openai", path: "/v1/chat/completions", model: "bench-mock"},
	{name: "xjp-translate", server: "xjp", dialect: "anthropic", path: "/v1/messages", model: "bench-mock"},
	{name: "xjp-echo", server: "xjp", dialect: "openai", path: "/v1/chat/completions", model: "bench-echo"},
	// xjp-cluster is xjp-echo with every request admitted by the cluster
	// limiter in Redis (-redis): compared with xjp-echo it shows the
	// limiter's added latency.
	{name: "xjp-cluster", server: "xjp-cluster", dialect: "openai", path: "/v1/chat/completions", model: "bench-echo", off: "needs Redis (-redis)"},
}

// runConfig is the matrix.
type runConfig struct {
	targets    []lane
	concs      []int
	modes      []bool // stream?
	rounds     int
	warmup     time.Duration
	duration   time.Duration
	chunks     int
	chunkDelay time.Duration
	caddyIdle  int
	profile    []string // lanes to profile
	redis      string   // the xjp-cluster lane's Redis
}

// cell is one (mode, concurrency, lane) of the matrix, over all rounds.
type cell struct {
	Lane        string            `json:"lane"`
	Stream      bool              `json:"stream"`
	Concurrency int               `json:"concurrency"`
	Rounds      []*loadgen.Result `json:"rounds"`
	agg         *aggregate
}

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	repo := fs.String("repo", "..", "the gateway repository, where cmd/xjp-caddy is built")
	caddyBin := fs.String("caddy", "", "a prebuilt xjp-caddy binary (default: build it from -repo)")
	outDir := fs.String("out", "", "results directory (default results/<time>)")
	pin := fs.String("pin", "split", "core plan: split (load+mock on core 0, Caddy/gateway on the rest), none, or LOAD/GATEWAY taskset lists like 0/1")
	targets := fs.String("targets", "", "lanes, comma-separated (default: every enabled lane: "+enabledLanes()+")")
	concs := fs.String("conc", "1,32,128", "concurrency levels")
	modes := fs.String("modes", "nonstream,stream", "nonstream, stream or both")
	rounds := fs.Int("rounds", 3, "rounds; each round runs every cell once, lanes in rotated order")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up per cell")
	duration := fs.Duration("duration", 10*time.Second, "measurement per cell and round")
	chunks := fs.Int("chunks", 20, "content chunks per streamed answer (words per answer)")
	chunkDelay := fs.Duration("chunk-delay", 0, "mock's pause between stream chunks")
	caddyIdle := fs.Int("caddy-idle", 512, "reverse_proxy keepalive_idle_conns_per_host (0 = Caddy's default, 32)")
	prof := fs.String("profile", "", "lanes to CPU-profile through Caddy's admin pprof endpoint, in round 1 (e.g. xjp)")
	quick := fs.Bool("quick", false, "a sanity run: 1 round, 300ms warm-up, 1s per cell")
	redisURL := fs.String("redis", "redis://127.0.0.1:6379/0", "the Redis of the xjp-cluster lane")
	_ = fs.Parse(args)

	cfg := runConfig{rounds: *rounds, warmup: *warmup, duration: *duration, chunks: *chunks, chunkDelay: *chunkDelay, caddyIdle: *caddyIdle, redis: *redisURL}
	if *quick {
		cfg.rounds, cfg.warmup, cfg.duration = 1, 300*time.Millisecond, time.Second
	}
	var err error
	if cfg.targets, err = pickLanes(*targets); err != nil {
		return err
	}
	for _, s := range strings.Split(*concs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad -conc %q", s)
		}
		cfg.concs = append(cfg.concs, n)
	}
	for _, m := range strings.Split(*modes, ",") {
		switch strings.TrimSpace(m) {
		case "nonstream":
			cfg.modes = append(cfg.modes, false)
		case "stream":
			cfg.modes = append(cfg.modes, true)
		default:
			return fmt.Errorf("bad -modes %q", m)
		}
	}
	if *prof != "" {
		cfg.profile = strings.Split(*prof, ",")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	raiseFileLimit()
	e, err := setup(ctx, *repo, *caddyBin, *outDir, *pin)
	if err != nil {
		return err
	}
	defer e.cleanup()
	return runMatrix(ctx, e, cfg)
}

func enabledLanes() string {
	var names []string
	for _, l := range lanes {
		if l.off == "" {
			names = append(names, l.name)
		}
	}
	return strings.Join(names, ",")
}

func pickLanes(list string) ([]lane, error) {
	if list == "" {
		list = enabledLanes()
	}
	var out []lane
	for _, name := range strings.Split(list, ",") {
		i := slices.IndexFunc(lanes, func(l lane) bool { return l.name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("unknown lane %q (lanes: direct, caddy-proxy, xjp, xjp-translate, xjp-echo, xjp-cluster)", name)
		}
		out = append(out, lanes[i])
	}
	return out, nil
}

func runMatrix(ctx context.Context, e *env, cfg runConfig) error {
	need := map[string]bool{}
	for _, l := range cfg.targets {
		need[l.server] = true
	}
	mock, err := e.startMock(ctx, cfg.chunks, cfg.chunkDelay)
	if err != nil {
		return err
	}
	defer mock.stop()
	servers := map[string]*proc{"mock": mock}
	if need["caddy"] {
		p, err := e.startCaddy(ctx, "caddy-proxy", proxySite(mock.addr, cfg.caddyIdle))
		if err != nil {
			return err
		}
		defer p.stop()
		servers["caddy"] = p
	}
	if need["xjp"] {
		p, err := e.startCaddy(ctx, "xjp", gatewaySite(mock.addr))
		if err != nil {
			return err
		}
		defer p.stop()
		servers["xjp"] = p
	}
	if need["xjp-cluster"] {
		p, err := e.startCaddy(ctx, "xjp-cluster", clusterSite(mock.addr, cfg.redis))
		if err != nil {
			return err
		}
		defer p.stop()
		servers["xjp-cluster"] = p
	}

	fmt.Fprintf(os.Stderr, "machine: %s\npinning: load generator + mock on cpus %q, Caddy/gateway on cpus %q\n", machine(), e.loadCPUs, e.gwCPUs)
	cells := map[string]*cell{}
	key := func(l string, s bool, c int) string { return fmt.Sprintf("%s/%v/%d", l, s, c) }
	step := 0
	for round := range cfg.rounds {
		for _, stream := range cfg.modes {
			for _, conc := range cfg.concs {
				// Rotate the lane order every step, so no lane always runs
				// first (cold) or right after a heavy one.
				order := slices.Clone(cfg.targets)
				k := step % len(order)
				order = append(order[k:], order[:k]...)
				step++
				for _, l := range order {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					res, err := runCell(ctx, e, cfg, servers, l, stream, conc, round)
					if err != nil {
						return err
					}
					c := cells[key(l.name, stream, conc)]
					if c == nil {
						c = &cell{Lane: l.name, Stream: stream, Concurrency: conc}
						cells[key(l.name, stream, conc)] = c
					}
					c.Rounds = append(c.Rounds, res)
					fmt.Fprintf(os.Stderr, "round %d %-9s c=%-4d %-13s %9.0f rps  p50 %s  p99 %s  errors %d\n",
						round+1, modeName(stream), conc, l.name, res.RPS, fmtUS(res.Latency.P50), fmtUS(res.Latency.P99), res.Errors)
				}
			}
		}
	}

	var ordered []*cell
	for _, stream := range cfg.modes {
		for _, conc := range cfg.concs {
			for _, l := range cfg.targets {
				c := cells[key(l.name, stream, conc)]
				c.agg = aggregateRounds(c.Rounds, l.server)
				ordered = append(ordered, c)
			}
		}
	}
	table := renderTable(ordered, cells, key)
	header := fmt.Sprintf("machine: %s\npinning: load generator + mock on cpus %q, Caddy/gateway on cpus %q\n"+
		"rounds %d, warm-up %s, %s per cell; stream: %d chunks, %s apart\n\n",
		machine(), e.loadCPUs, e.gwCPUs, cfg.rounds, cfg.warmup, cfg.duration, cfg.chunks, cfg.chunkDelay)
	fmt.Print("\n" + header + table)
	if err := os.WriteFile(filepath.Join(e.out, "table.md"), []byte(header+table), 0o644); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(ordered, "", "  ")
	if err := os.WriteFile(filepath.Join(e.out, "results.json"), raw, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "\nresults in %s\n", e.out)
	return nil
}

func runCell(ctx context.Context, e *env, cfg runConfig, servers map[string]*proc, l lane, stream bool, conc, round int) (*loadgen.Result, error) {
	srv := servers[l.server]
	watch := "mock=" + strconv.Itoa(servers["mock"].pid())
	if l.server != "mock" {
		watch += ",proxy=" + strconv.Itoa(srv.pid())
	}
	args := []string{
		"-url", "http://" + srv.addr + l.path,
		"-dialect", l.dialect, "-model", l.model,
		"-stream=" + strconv.FormatBool(stream), "-words", strconv.Itoa(cfg.chunks),
		"-c", strconv.Itoa(conc), "-warmup", cfg.warmup.String(), "-d", cfg.duration.String(),
		"-watch", watch,
	}
	done := make(chan error, 1)
	if round == 0 && slices.Contains(cfg.profile, l.name) && srv.admin != "" {
		file := filepath.Join(e.out, fmt.Sprintf("cpu-%s-%s-c%d.pprof", l.name, modeName(stream), conc))
		go func() {
			time.Sleep(cfg.warmup)
			done <- profile(srv.admin, max(1, int(cfg.duration.Seconds())), file)
		}()
	} else {
		done <- nil
	}
	res, err := e.load(ctx, args)
	if perr := <-done; perr != nil {
		fmt.Fprintln(os.Stderr, "profile:", perr)
	}
	return res, err
}

func modeName(stream bool) string {
	if stream {
		return "stream"
	}
	return "nonstream"
}
