package main

import (
	"flag"
	"net"
	"net/http"
	"time"

	"github.com/xiaojinpro/xjp-gateway/bench/mock"
)

func cmdMock(args []string) error {
	fs := flag.NewFlagSet("mock", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9400", "listen address")
	chunks := fs.Int("chunks", 20, "content chunks per stream (and words per answer)")
	delay := fs.Duration("delay", 0, "pause before each content chunk after the first")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mock.New(mock.Config{Chunks: *chunks, Delay: *delay}),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	return srv.Serve(ln)
}
