package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xiaojinpro/xjp-gateway/bench/loadgen"
)

// streamsReport is one target's concurrency run.
type streamsReport struct {
	Target         string          `json:"target"`
	Streams        int             `json:"streams"`
	Result         *loadgen.Result `json:"result"`
	PeakRSSBytes   int64           `json:"peak_rss_bytes"`
	PeakGoroutines int             `json:"peak_goroutines"`
	PeakOpenFiles  int             `json:"peak_open_files"`
	IdleRSSBytes   int64           `json:"idle_rss_bytes"`
	IdleGoroutines int             `json:"idle_goroutines"`
	// AfterGoroutines is the count once every stream has ended: it should
	// be back near IdleGoroutines (no goroutine outlives its request).
	AfterGoroutines int `json:"after_goroutines"`
}

func cmdStreams(args []string) error {
	fs := flag.NewFlagSet("streams", flag.ExitOnError)
	repo := fs.String("repo", "..", "the gateway repository, where cmd/xjp-caddy is built")
	caddyBin := fs.String("caddy", "", "a prebuilt xjp-caddy binary (default: build it from -repo)")
	outDir := fs.String("out", "", "results directory (default results/<time>)")
	pin := fs.String("pin", "split", "core plan, as for run")
	targets := fs.String("targets", "xjp", "lanes to run: xjp, caddy-proxy, xjp-translate (comma-separated)")
	n := fs.Int("streams", 8000, "concurrent streams")
	every := fs.Duration("every", 100*time.Millisecond, "the mock sends one chunk this often")
	length := fs.Duration("length", 30*time.Second, "how long each stream lasts")
	ramp := fs.Duration("ramp", 10*time.Second, "open the streams evenly over this long")
	stall := fs.Duration("stall", time.Second, "a stream with a gap between events above this is stalled")
	caddyIdle := fs.Int("caddy-idle", 512, "reverse_proxy keepalive_idle_conns_per_host")
	prof := fs.Bool("profile", false, "save a CPU profile (over the middle half of the run) and a heap profile (at its middle) of each target")
	_ = fs.Parse(args)

	lanesToRun, err := pickLanes(*targets)
	if err != nil {
		return err
	}
	limit := raiseFileLimit()
	// The gateway holds two descriptors per stream; the load generator and
	// the mock one each.
	if need := uint64(2**n + 256); limit < need {
		return fmt.Errorf("open-files limit %d is below the %d that %d streams need: raise it (ulimit -n) or lower -streams", limit, need, *n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := setup(ctx, *repo, *caddyBin, *outDir, *pin)
	if err != nil {
		return err
	}
	defer e.cleanup()

	chunks := max(1, int(*length / *every))
	mock, err := e.startMock(ctx, chunks, *every)
	if err != nil {
		return err
	}
	defer mock.stop()

	var reports []streamsReport
	for _, l := range lanesToRun {
		var srv *proc
		switch l.server {
		case "caddy":
			srv, err = e.startCaddy(ctx, "caddy-proxy", proxySite(mock.addr, *caddyIdle))
		case "xjp":
			srv, err = e.startCaddy(ctx, "xjp", gatewaySite(mock.addr))
		default:
			return fmt.Errorf("lane %s has no process to watch; use xjp, caddy-proxy or xjp-translate", l.name)
		}
		if err != nil {
			return err
		}
		rep, err := streamsRun(ctx, e, l, srv, mock, *n, chunks, *ramp, *length, *stall, *prof)
		srv.stop()
		if err != nil {
			return err
		}
		reports = append(reports, *rep)
	}

	header := fmt.Sprintf("machine: %s\npinning: load generator + mock on cpus %q, gateway on cpus %q\n"+
		"%d streams opened over %s, one chunk every %s for %s (%d chunks); stalled = a gap over %s\n\n",
		machine(), e.loadCPUs, e.gwCPUs, *n, *ramp, *every, *length, chunks, *stall)
	var b strings.Builder
	b.WriteString("| target | streams | ok | errors | stalled | peak RSS | RSS idle | peak goroutines | goroutines idle → after | peak open files | first event p50 / p99 | gap p50 / p99 / max | CPU µs/event (user) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range reports {
		res := r.Result
		cpu := res.Procs["proxy"]
		perEvent, userPerEvent := 0.0, 0.0
		if res.Events > 0 {
			perEvent = cpu.CPUSeconds / float64(res.Events) * 1e6
			userPerEvent = cpu.UserSeconds / float64(res.Events) * 1e6
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %.1f MiB | %.1f MiB | %d | %d → %d | %d | %s / %s | %s / %s / %s | %.1f (%.1f) |\n",
			r.Target, r.Streams, res.Requests-res.Errors, res.Errors, res.Stalled,
			float64(r.PeakRSSBytes)/(1<<20), float64(r.IdleRSSBytes)/(1<<20), r.PeakGoroutines, r.IdleGoroutines, r.AfterGoroutines,
			r.PeakOpenFiles, fmtUS(res.FirstEvent.P50), fmtUS(res.FirstEvent.P99),
			fmtUS(res.Gap.P50), fmtUS(res.Gap.P99), fmtUS(res.Gap.Max), perEvent, userPerEvent)
		if len(res.ErrorKinds) > 0 {
			fmt.Fprintf(&b, "\nerrors of %s: %v\n", r.Target, res.ErrorKinds)
		}
	}
	fmt.Print("\n" + header + b.String())
	if err := os.WriteFile(filepath.Join(e.out, "streams.md"), []byte(header+b.String()), 0o644); err != nil {
		return err
	}
	raw, _ := json.MarshalIndent(reports, "", "  ")
	return os.WriteFile(filepath.Join(e.out, "streams.json"), raw, 0o644)
}

func streamsRun(ctx context.Context, e *env, l lane, srv, mock *proc, n, chunks int, ramp, length, stall time.Duration, prof bool) (*streamsReport, error) {
	rep := &streamsReport{Target: l.name, Streams: n}
	rep.IdleRSSBytes, _, _ = loadgen.ProcMemory(srv.pid())
	rep.IdleGoroutines = goroutines(srv.admin)

	// Sample the server once a second while the streams run.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if rss, _, err := loadgen.ProcMemory(srv.pid()); err == nil {
				rep.PeakRSSBytes = max(rep.PeakRSSBytes, rss)
			}
			rep.PeakGoroutines = max(rep.PeakGoroutines, goroutines(srv.admin))
			rep.PeakOpenFiles = max(rep.PeakOpenFiles, openFiles(srv.pid()))
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	})
	if prof {
		// Every stream is open from ramp to length; profile the middle.
		wg.Go(func() {
			select {
			case <-sampleCtx.Done():
				return
			case <-time.After(ramp + length/4):
			}
			secs := max(1, int(length.Seconds()/2))
			if err := profile(srv.admin, secs, filepath.Join(e.out, "cpu-streams-"+l.name+".pprof")); err != nil {
				fmt.Fprintln(os.Stderr, "cpu profile:", err)
			}
			if err := heapProfile(srv.admin, filepath.Join(e.out, "heap-streams-"+l.name+".pprof")); err != nil {
				fmt.Fprintln(os.Stderr, "heap profile:", err)
			}
		})
	}
	fmt.Fprintf(os.Stderr, "%s: %d streams, %d chunks each …\n", l.name, n, chunks)
	res, err := e.load(ctx, []string{
		"-url", "http://" + srv.addr + l.path, "-dialect", l.dialect, "-model", l.model,
		"-stream", "-words", strconv.Itoa(chunks),
		"-once", "-c", strconv.Itoa(n), "-ramp", ramp.String(),
		"-timeout", (length + ramp + time.Minute).String(), "-stall", stall.String(),
		"-watch", "proxy=" + strconv.Itoa(srv.pid()) + ",mock=" + strconv.Itoa(mock.pid()),
	})
	stopSampling()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	rep.Result = res
	_, peak, _ := loadgen.ProcMemory(srv.pid())
	rep.PeakRSSBytes = max(rep.PeakRSSBytes, peak)
	// Streams have ended; give the server a moment to tear down.
	time.Sleep(time.Second)
	rep.AfterGoroutines = goroutines(srv.admin)
	return rep, nil
}
