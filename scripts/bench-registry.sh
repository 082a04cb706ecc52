#!/usr/bin/env bash
# Benchmarks amlid's container registry (issue 7) on this machine:
#
#   - a 200 MB single-layer image pulled with go-containerregistry (which
#     verifies the layer's sha256 while reading), the same blob fetched with
#     a plain authenticated GET, and the same bytes copied over a raw TLS
#     connection on loopback (the floor): MB/s each, and the ratios;
#   - /oauth2/exchange (Entra token → registry refresh token) and
#     /oauth2/token (refresh → access token, with the RBAC decision) from
#     parallel clients: requests per second.
#
#   ./scripts/bench-registry.sh
#   BENCH_PULL_COUNT=5 BENCH_TOKEN_TIME=5s ./scripts/bench-registry.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PULLS="${BENCH_PULL_COUNT:-3}"
TOKEN_TIME="${BENCH_TOKEN_TIME:-3s}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench 'BenchmarkRegistryPull200MB' -benchtime "${PULLS}x" ./internal/registry/ | tee "$out"
go test -run '^$' -bench 'BenchmarkRegistryTokenExchange' -benchtime "$TOKEN_TIME" ./internal/registry/ | tee -a "$out"

awk '
  /Pull200MB\/ggcr/    { for (i=1;i<=NF;i++) if ($(i+1)=="MB/s") ggcr=$i }
  /Pull200MB\/get/     { for (i=1;i<=NF;i++) if ($(i+1)=="MB/s") get=$i }
  /Pull200MB\/raw-tls/ { for (i=1;i<=NF;i++) if ($(i+1)=="MB/s") raw=$i }
  /TokenExchange\/exchange/ { for (i=1;i<=NF;i++) if ($(i+1)=="req/s") ex=$i }
  /TokenExchange\/token/    { for (i=1;i<=NF;i++) if ($(i+1)=="req/s") tk=$i }
  END {
    printf "\n200 MB pull: ggcr %s MB/s (%.2f of raw TLS), blob GET %s MB/s (%.2f of raw TLS), raw TLS %s MB/s\n", ggcr, ggcr/raw, get, get/raw, raw
    printf "token exchanges: %s/s; access tokens: %s/s\n", ex, tk
  }' "$out"
