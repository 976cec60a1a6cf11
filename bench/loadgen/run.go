package loadgen

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Options shape one load run.
type Options struct {
	// Concurrency is the number of workers, each with its own connection.
	Concurrency int
	// Rate, when positive, is the fixed request rate (open loop): the
	// workers take requests from a schedule, and latency counts from each
	// request's scheduled start, so time spent waiting for a free worker
	// is part of it. Zero means closed loop: each worker sends its next
	// request as soon as the last one ended.
	Rate float64
	// Warmup runs before the measurement and is not counted.
	Warmup time.Duration
	// Duration of the measurement.
	Duration time.Duration
	// Once makes each worker send exactly one request, the workers'
	// starts spread evenly over Ramp; Warmup and Duration are ignored and
	// the run lasts until every request has ended.
	Once bool
	Ramp time.Duration
	// Timeout bounds one request, stream included. Default 60s.
	Timeout time.Duration
	// StallAfter marks a stream stalled when two of its events are further
	// apart than this. Default 1s.
	StallAfter time.Duration
	// Watch names processes whose CPU time and peak RSS are measured over
	// the measurement window.
	Watch map[string]int
}

// Result is what one run measured. Times are in microseconds.
type Result struct {
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	Stream      bool    `json:"stream"`
	Seconds     float64 `json:"seconds"`
	Requests    int64   `json:"requests"`
	// Errors counts failed requests; ErrorKinds by cause ("status 502",
	// "incomplete-stream", "dial", …).
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`
	RPS        float64          `json:"rps"`
	// Dropped counts scheduled requests of a fixed-rate run that found the
	// schedule's queue full (the target is far slower than the rate).
	Dropped int64 `json:"dropped,omitempty"`

	Latency    Percentiles `json:"latency_us"`
	FirstByte  Percentiles `json:"first_byte_us"`
	FirstEvent Percentiles `json:"first_event_us,omitzero"`
	Gap        Percentiles `json:"gap_us,omitzero"`
	// Events is the number of events read from all streams.
	Events int64 `json:"events,omitempty"`
	// Stalled counts streams with a gap above StallAfter.
	Stalled int64 `json:"stalled,omitempty"`

	Procs         map[string]ProcUsage `json:"procs,omitempty"`
	LoadgenCPUSec float64              `json:"loadgen_cpu_seconds"`
}

// ProcUsage is a watched process's cost over the measurement window.
type ProcUsage struct {
	// CPUSeconds is UserSeconds + SystemSeconds.
	CPUSeconds    float64 `json:"cpu_seconds"`
	UserSeconds   float64 `json:"user_seconds"`
	SystemSeconds float64 `json:"system_seconds"`
	PeakRSSByte   int64   `json:"peak_rss_bytes"`
}

// Percentiles summarise a distribution, in microseconds.
type Percentiles struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
}

// recorder is one worker's measurements: plain slices, merged and sorted
// once at the end, so percentiles are exact.
type recorder struct {
	lat, firstByte, firstEvent, gaps []time.Duration
	events, stalled, errors          int64
	kinds                            map[string]int64
	gapFn                            func(time.Duration)
	recording                        bool
}

func newRecorder(hint int, stream bool) *recorder {
	r := &recorder{lat: make([]time.Duration, 0, hint), firstByte: make([]time.Duration, 0, hint), kinds: map[string]int64{}}
	if stream {
		r.firstEvent = make([]time.Duration, 0, hint)
		r.gaps = make([]time.Duration, 0, hint*16)
	}
	r.gapFn = func(g time.Duration) {
		if r.recording {
			r.gaps = append(r.gaps, g)
		}
	}
	return r
}

func (r *recorder) add(tm timing, err error, stallAfter time.Duration, stream bool) {
	if err != nil {
		r.errors++
		r.kinds[err.Error()]++
		return
	}
	r.lat = append(r.lat, tm.end)
	r.firstByte = append(r.firstByte, tm.firstByte)
	if stream {
		r.firstEvent = append(r.firstEvent, tm.firstEvent)
		r.events += int64(tm.events)
		if tm.maxGap > stallAfter {
			r.stalled++
		}
	}
}

// Run drives t as o says and returns what it measured.
func Run(ctx context.Context, t Target, o Options) *Result {
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.StallAfter <= 0 {
		o.StallAfter = time.Second
	}
	hint := 1024
	if o.Once {
		hint = 1
	}
	recs := make([]*recorder, o.Concurrency)
	for i := range recs {
		recs[i] = newRecorder(hint, t.Stream)
	}
	begin := time.Now()
	mstart := begin.Add(o.Warmup)
	mend := mstart.Add(o.Duration)
	if o.Once {
		mstart, mend = begin, time.Time{}
	}

	// Watched processes: sampled when the window opens and closes.
	w := newWatcher(o.Watch)
	if o.Warmup > 0 {
		go func() {
			select {
			case <-time.After(time.Until(mstart)):
				w.open()
			case <-ctx.Done():
			}
		}()
	} else {
		w.open()
	}

	var wg sync.WaitGroup
	var dropped int64
	switch {
	case o.Once:
		for i, r := range recs {
			wg.Go(func() {
				delay := time.Duration(0)
				if o.Concurrency > 1 {
					delay = o.Ramp * time.Duration(i) / time.Duration(o.Concurrency)
				}
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return
				}
				c := newConn(t.Addr, o.Timeout)
				defer c.close()
				r.recording = true
				start := time.Now()
				tm, err := c.do(&t, start, r.gapFn)
				r.add(tm, err, o.StallAfter, t.Stream)
			})
		}
	case o.Rate > 0:
		queue := make(chan time.Time, 1<<16)
		for _, r := range recs {
			wg.Go(func() { worker(ctx, &t, o, r, mstart, queue) })
		}
		dropped = pace(ctx, o.Rate, begin, mend, queue)
		close(queue)
	default:
		for _, r := range recs {
			wg.Go(func() { closedWorker(ctx, &t, o, r, mstart, mend) })
		}
	}
	wg.Wait()
	end := time.Now()
	if !o.Once {
		end = mend
	}
	procs, lg := w.close()

	res := &Result{Concurrency: o.Concurrency, Rate: o.Rate, Stream: t.Stream, Seconds: end.Sub(mstart).Seconds(),
		ErrorKinds: map[string]int64{}, Dropped: dropped, Procs: procs, LoadgenCPUSec: lg.Seconds()}
	var lat, fb, fe, gaps []time.Duration
	for _, r := range recs {
		lat = append(lat, r.lat...)
		fb = append(fb, r.firstByte...)
		fe = append(fe, r.firstEvent...)
		gaps = append(gaps, r.gaps...)
		res.Events += r.events
		res.Stalled += r.stalled
		res.Errors += r.errors
		for k, v := range r.kinds {
			res.ErrorKinds[k] += v
		}
	}
	res.Requests = int64(len(lat)) + res.Errors
	if res.Seconds > 0 {
		res.RPS = float64(len(lat)) / res.Seconds
	}
	res.Latency = summarize(lat)
	res.FirstByte = summarize(fb)
	if t.Stream {
		res.FirstEvent = summarize(fe)
		res.Gap = summarize(gaps)
	}
	return res
}

// closedWorker sends requests back to back until the window closes;
// those that start inside the window are counted.
func closedWorker(ctx context.Context, t *Target, o Options, r *recorder, mstart, mend time.Time) {
	c := newConn(t.Addr, o.Timeout)
	defer c.close()
	for ctx.Err() == nil {
		start := time.Now()
		if !start.Before(mend) {
			return
		}
		r.recording = !start.Before(mstart)
		tm, err := c.do(t, start, r.gapFn)
		if r.recording {
			r.add(tm, err, o.StallAfter, t.Stream)
		}
		if err != nil && c.c == nil {
			pause(ctx) // do not spin on a refused connection
		}
	}
}

// worker serves scheduled requests; latency runs from the schedule.
func worker(ctx context.Context, t *Target, o Options, r *recorder, mstart time.Time, queue <-chan time.Time) {
	c := newConn(t.Addr, o.Timeout)
	defer c.close()
	for due := range queue {
		if ctx.Err() != nil {
			continue
		}
		r.recording = !due.Before(mstart)
		tm, err := c.do(t, due, r.gapFn)
		if r.recording {
			r.add(tm, err, o.StallAfter, t.Stream)
		}
	}
}

// pace puts the schedule's due times on queue until end, and counts those
// that found it full.
func pace(ctx context.Context, rate float64, begin, end time.Time, queue chan<- time.Time) (dropped int64) {
	interval := time.Duration(float64(time.Second) / rate)
	next := begin
	for ctx.Err() == nil && next.Before(end) {
		now := time.Now()
		for !next.After(now) && next.Before(end) {
			select {
			case queue <- next:
			default:
				dropped++
			}
			next = next.Add(interval)
		}
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	return dropped
}

func pause(ctx context.Context) {
	select {
	case <-time.After(10 * time.Millisecond):
	case <-ctx.Done():
	}
}

func summarize(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, v := range d {
		sum += v
	}
	at := func(q float64) float64 {
		i := int(q*float64(len(d))+0.5) - 1
		i = max(0, min(i, len(d)-1))
		return us(d[i])
	}
	return Percentiles{N: len(d), Mean: us(sum / time.Duration(len(d))),
		P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999), Max: us(d[len(d)-1])}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// watcher measures watched processes and this one over the window.
type watcher struct {
	mu     sync.Mutex
	pids   map[string]int
	cpu0   map[string][2]time.Duration // user, system
	self0  time.Duration
	opened bool
}

func newWatcher(pids map[string]int) *watcher {
	return &watcher{pids: pids, cpu0: map[string][2]time.Duration{}}
}

func (w *watcher) open() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, pid := range w.pids {
		_ = ResetPeakRSS(pid)
		u, sys, _ := ProcCPU(pid)
		w.cpu0[name] = [2]time.Duration{u, sys}
	}
	w.self0 = selfCPU()
	w.opened = true
}

func (w *watcher) close() (map[string]ProcUsage, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.opened {
		return nil, 0
	}
	out := make(map[string]ProcUsage, len(w.pids))
	for name, pid := range w.pids {
		u, sys, _ := ProcCPU(pid)
		_, peak, _ := ProcMemory(pid)
		u, sys = u-w.cpu0[name][0], sys-w.cpu0[name][1]
		out[name] = ProcUsage{CPUSeconds: (u + sys).Seconds(), UserSeconds: u.Seconds(), SystemSeconds: sys.Seconds(), PeakRSSByte: peak}
	}
	return out, selfCPU() - w.self0
}
