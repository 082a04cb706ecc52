#!/usr/bin/env bash
# Benchmarks amlid's Blob data plane against Azurite on this machine, in one
# run, with one client (the Azure SDK for Go) and the same workloads:
#
#   - a large blob (BENCH_LARGE_MIB, default 512 MiB) uploaded in 8 MiB
#     blocks, 4 in parallel, then downloaded in 8 MiB ranges, 4 in parallel:
#     MB/s each way;
#   - BENCH_SMALL_OPS (default 4000) 4 KiB Put Blob + Get Blob pairs from 16
#     goroutines: pairs per second;
#   - on a hierarchical-namespace account (ADLS Gen2), a BENCH_DFS_MIB
#     (default 256) MiB file written through the DFS API (azdatalake: 8 MiB
#     appends, 4 in parallel, one flush) and read back, next to the same
#     size through the Blob API, and a recursive ACL set over
#     BENCH_ACL_PATHS (default 10,000) paths (amlid only: Azurite has no
#     DFS endpoint);
#
# for Azurite (shared key), amlid with the account key, and amlid with Entra
# tokens checked by the shared verifier and RBAC. Each figure is the best of
# BENCH_ROUNDS (default 3) rounds. Both servers use HTTPS with the same
# certificate and keep their data on the same disk. amlid runs once with its
# metadata in memory (`amlid up --store memory`), once in SQLite (the
# default), and once in "memidx", an in-memory store indexed by kind (a
# proposed fix for store/memory, whose List scans every record: RBAC's
# group expansion pays for that on every data-plane decision), unless
# BENCH_STORES says otherwise.
#
# Then the same workloads (shared key, memory store) direct to amlid's
# path-style Blob port and through amlid's proxy as https://bench.blob.core.windows.net
# (what `amlid env --azure-hostnames` gives Azure code; target >= 0.8x direct).
#
#   ./scripts/bench-blob.sh
#   BENCH_LARGE_MIB=256 BENCH_STORES=memory ./scripts/bench-blob.sh
#   BENCH_ONLY=proxy ./scripts/bench-blob.sh     # only the proxy figures (no Azurite, no npm)
#
# Azurite is installed from npm into a temporary directory and removed
# afterwards; the machine needs Node.js (20+), npm and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
BENCH_STORES="${BENCH_STORES:-memory sqlite memidx}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for tool in node npm go; do
  command -v "$tool" >/dev/null || { echo "bench-blob: $tool is required" >&2; exit 1; }
done

if [ "${BENCH_ONLY:-}" = "proxy" ]; then
  echo "==> machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
  go test ./internal/blob/ -run '^$' -bench 'BlobThroughProxy' -benchtime 1x -count 1 -timeout 60m | sed -n '/^Blob through/,/proxy \/ direct/p'
  exit 0
fi

echo "==> installing Azurite $AZURITE_VERSION from npm into $WORK"
npm install --prefix "$WORK" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null
export AZURITE_BLOB="$WORK/node_modules/.bin/azurite-blob"
"$AZURITE_BLOB" --version >/dev/null

echo "==> machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, load $(cut -d' ' -f1-3 /proc/loadavg)"
for store in $BENCH_STORES; do
  echo "==> amlid metadata store: $store"
  AMLID_TEST_STORE="$store" go test ./internal/blob/ -run '^$' -bench 'BlobVsAzurite' -benchtime 1x -count 1 -timeout 60m \
    | sed -n '/^Blob benchmark/,/RBAC overhead/p'
done
echo "==> Blob direct vs through amlid's proxy (Azure host names)"
go test ./internal/blob/ -run '^$' -bench 'BlobThroughProxy' -benchtime 1x -count 1 -timeout 60m | sed -n '/^Blob through/,/proxy \/ direct/p'
for store in $BENCH_STORES; do
  echo "==> amlid DFS (ADLS Gen2), metadata store: $store"
  AMLID_TEST_STORE="$store" go test ./internal/blob/ -run '^$' -bench 'BenchmarkDFS$' -benchtime 1x -count 1 -timeout 60m \
    | sed -n '/^DFS benchmark/,/Recursive ACL set/p'
done
