package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/xiaojinpro/xjp-gateway/bench/loadgen"
	"github.com/xiaojinpro/xjp-gateway/bench/mock"
)

// bodySpec says what request a lane sends.
type bodySpec struct {
	dialect string // "openai" or "anthropic"
	model   string
	stream  bool
	words   int
	key     string
}

// target builds the load target for a URL and body.
func (b bodySpec) target(rawURL string) (loadgen.Target, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return loadgen.Target{}, fmt.Errorf("bad url %q: want http://host:port/path", rawURL)
	}
	text := strings.TrimSpace(strings.Repeat(mock.Word, b.words))
	var body string
	var headers [][2]string
	t := loadgen.Target{Addr: u.Host, Stream: b.stream}
	switch b.dialect {
	case "anthropic":
		body = `{"model":` + strconv.Quote(b.model) + `,"max_tokens":1024,"messages":[{"role":"user","content":` + strconv.Quote(text) + `}]`
		if b.stream {
			body += `,"stream":true`
		}
		headers = [][2]string{{"X-Api-Key", b.key}, {"Anthropic-Version", "2023-06-01"}}
		t.Completion = loadgen.DoneAnthropic
	default:
		body = `{"model":` + strconv.Quote(b.model) + `,"messages":[{"role":"user","content":` + strconv.Quote(text) + `}]`
		if b.stream {
			body += `,"stream":true,"stream_options":{"include_usage":true}`
		}
		headers = [][2]string{{"Authorization", "Bearer " + b.key}}
		t.Completion = loadgen.DoneOpenAI
	}
	body += "}"
	t.Request = loadgen.BuildRequest(u.Host, u.RequestURI(), headers, []byte(body))
	return t, nil
}

func cmdLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	rawURL := fs.String("url", "http://127.0.0.1:8080/v1/chat/completions", "endpoint")
	var spec bodySpec
	fs.StringVar(&spec.dialect, "dialect", "openai", "request dialect: openai or anthropic")
	fs.StringVar(&spec.model, "model", "mock-model", "model name")
	fs.BoolVar(&spec.stream, "stream", false, "stream the answer")
	fs.IntVar(&spec.words, "words", 20, "words in the user message")
	fs.StringVar(&spec.key, "key", benchKey, "API key")
	var o loadgen.Options
	fs.IntVar(&o.Concurrency, "c", 32, "workers (connections)")
	fs.Float64Var(&o.Rate, "rate", 0, "fixed request rate per second (open loop); 0 = closed loop")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "warm-up, not counted")
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "measurement duration")
	fs.BoolVar(&o.Once, "once", false, "each worker sends one request; starts spread over -ramp")
	fs.DurationVar(&o.Ramp, "ramp", 0, "with -once, spread the starts over this long")
	fs.DurationVar(&o.Timeout, "timeout", 60*time.Second, "per request")
	fs.DurationVar(&o.StallAfter, "stall", time.Second, "a stream with a gap above this is stalled")
	watch := fs.String("watch", "", "processes to measure: name=pid,name=pid")
	_ = fs.Parse(args)

	t, err := spec.target(*rawURL)
	if err != nil {
		return err
	}
	if *watch != "" {
		o.Watch = map[string]int{}
		for _, kv := range strings.Split(*watch, ",") {
			name, pid, ok := strings.Cut(kv, "=")
			n, err := strconv.Atoi(pid)
			if !ok || err != nil {
				return fmt.Errorf("bad -watch entry %q", kv)
			}
			o.Watch[name] = n
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res := loadgen.Run(ctx, t, o)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}
