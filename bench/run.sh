#!/usr/bin/env bash
# The benchmark, in one command (see docs/benchmarks.md):
#
#   bench/run.sh                 the full matrix: direct, caddy-proxy, xjp,
#                                xjp-translate, xjp-echo × concurrency 1/32/128 × non-stream/stream
#   bench/run.sh -quick          a sanity run of the same (1 round, 1 s per cell)
#   bench/run.sh streams         8,000 concurrent 30 s streams through the gateway
#   bench/run.sh run -h          every flag (streams -h likewise)
#
# It builds cmd/xjp-caddy from this checkout (one binary serves both the
# caddy-proxy and the xjp lanes) and the bench tool, raises the open-files
# limit, and writes the table and raw results to bench/results/<time>/.
set -euo pipefail
cd "$(dirname "$0")"

sub=run
if [[ $# -gt 0 && $1 != -* ]]; then
	sub=$1
	shift
fi

# A stream holds two descriptors in the gateway; 8,000 streams need more
# than the usual soft limit of 1,024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "open-files limit: $(ulimit -n)" >&2

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
	echo "warning: load average is $load: other work is running, numbers will be noisy" >&2
fi

bin=results/.bin
mkdir -p "$bin"
go build -o "$bin/xjp-bench" ./cmd/xjp-bench
(cd .. && go build -o bench/"$bin"/xjp-caddy ./cmd/xjp-caddy)

exec "$bin/xjp-bench" "$sub" -repo .. -caddy "$bin/xjp-caddy" "$@"
