#!/usr/bin/env bash
# Benchmarks the runtime of online deployments (package internal/runtime)
# with real Python processes on this machine:
#
#   - BenchmarkStart: Start (processes launched, init() returned) for a
#     standard-library score.py with 1 and 2 instances, and for the seed
#     walkthrough's sklearn model loaded with joblib (Debian's
#     /usr/bin/python3 with python3-sklearn): ms-to-ready;
#   - BenchmarkScore: Score round trips Go → harness → run() → Go from 8
#     parallel callers, 1 and 2 instances: req/s, p50 and p99 latency.
#
# The whole walkthrough (ARM endpoint + deployment + invoke) is timed by the
# ML end-to-end benchmark; this one isolates the process runtime.
#
#   ./scripts/bench-runtime.sh
#   BENCH_TIME=10s ./scripts/bench-runtime.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_TIME="${BENCH_TIME:-3s}"
BENCH_STARTS="${BENCH_STARTS:-10x}"

for tool in go /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "bench-runtime: $tool is required (apt-get install -y python3 python3-sklearn python3-joblib python3-numpy)" >&2; exit 1; }
done

go test -run '^$' -bench 'BenchmarkStart' -benchtime "$BENCH_STARTS" ./internal/runtime/ | grep -E '^(Benchmark|ok|FAIL|goos|cpu)'
go test -run '^$' -bench 'BenchmarkScore' -benchtime "$BENCH_TIME" ./internal/runtime/ | grep -E '^(Benchmark|ok|FAIL)'
