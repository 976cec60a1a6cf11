// Command xjp-bench measures XJP Gateway against Caddy's reverse_proxy and
// a direct connection to a mock upstream.
//
//	xjp-bench run     [flags]   the whole matrix, one table (bench/run.sh)
//	xjp-bench streams [flags]   many concurrent long streams through the gateway
//	xjp-bench mock    [flags]   the mock OpenAI-compatible upstream alone
//	xjp-bench load    [flags]   one load run against a URL, as JSON
//
// Run a subcommand with -h for its flags; docs/benchmarks.md has the method.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "run":
		err = cmdRun(args)
	case "streams":
		err = cmdStreams(args)
	case "mock":
		err = cmdMock(args)
	case "load":
		err = cmdLoad(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "xjp-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: xjp-bench run|streams|mock|load [flags]  (-h for the flags of each)")
	os.Exit(2)
}
