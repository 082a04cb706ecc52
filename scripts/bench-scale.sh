#!/usr/bin/env bash
# Costs that grow with the data (issue 23), in one run and one table:
#
#   - ARM with 1k, 10k, 100k user-assigned identities in one resource group
#     (in-process `amlid up` on SQLite; the first 10k made through ARM, the
#     rest cloned into the store): first page of the group's identity list,
#     a full paged walk, GET, PUT, resident and live-heap bytes per identity;
#   - RBAC Check at 1k, 10k, 100k, 1M assignments: p99 of allowed and denied
#     checks (and of a denial with its 403 text), index bytes per
#     assignment, Load time; and a restart's RBAC cost on SQLite at
#     BENCH_RESTART sizes (default 1M: about 3 minutes of seeding on an idle
#     machine; BENCH_RESTART=100000 for a quick run): from the snapshot with
#     100 journaled writes after it, and reading every record (no snapshot);
#   - Blob (SQLite metadata, the `amlid up` default): BENCH_LARGE_MIB in
#     8 MiB blocks 4 at a time, up and down, with the account key and with a
#     bearer token + RBAC, next to this machine's limits for the same shape
#     measured in the same run, round by round (raw TLS over loopback, raw
#     TLS received into a file with an fsync per piece, raw disk write +
#     fsync), as fractions of them; and 4 KiB put+get pairs per second.
#
#   ./scripts/bench-scale.sh
#   BENCH_ARM_SIZES=1000,10000 BENCH_LARGE_MIB=128 ./scripts/bench-scale.sh
#
# Each part is bounded to a few minutes. Figures on a shared machine move
# with its load: the load average is printed with the table.
set -euo pipefail
cd "$(dirname "$0")/.."

ARM_SIZES="${BENCH_ARM_SIZES:-1000,10000,100000}"
RESTART="${BENCH_RESTART:-1000000}"
LARGE_MIB="${BENCH_LARGE_MIB:-256}"
SMALL_OPS="${BENCH_SMALL_OPS:-2000}"
ROUNDS="${BENCH_ROUNDS:-2}"
LARGE_ROUNDS="${BENCH_LARGE_ROUNDS:-5}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

echo "==> machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "==> ARM at $ARM_SIZES identities" >&2
AMLID_BENCH_SIZES="$ARM_SIZES" go test ./internal/server/ -run '^$' -bench ARMScale -benchtime 1x -count 1 -timeout 30m >"$OUT/arm" 2>&1 || { cat "$OUT/arm" >&2; exit 1; }
echo "==> RBAC Check at 1k..1M assignments" >&2
go test ./internal/rbac/ -run '^$' -bench 'BenchmarkCheck' -benchmem -benchtime 1s -count 1 -timeout 30m >"$OUT/rbac" 2>&1 || { cat "$OUT/rbac" >&2; exit 1; }
echo "==> RBAC restart at $RESTART assignments" >&2
AMLID_BENCH_ASSIGNMENTS="$RESTART" go test ./internal/authorization/ -run '^$' -bench Restart -benchtime 1x -count 1 -timeout 30m >"$OUT/restart" 2>&1 || { cat "$OUT/restart" >&2; exit 1; }
echo "==> Blob, $LARGE_MIB MiB vs machine limits ($LARGE_ROUNDS rounds)" >&2
AMLID_TEST_STORE=sqlite BENCH_LARGE_MIB="$LARGE_MIB" BENCH_ROUNDS="$LARGE_ROUNDS" \
  go test ./internal/blob/ -run '^$' -bench 'LargeVsLimits' -benchtime 1x -count 1 -timeout 30m >"$OUT/large" 2>&1 || { cat "$OUT/large" >&2; exit 1; }
echo "==> Blob, $SMALL_OPS x 4 KiB, best of $ROUNDS" >&2
AMLID_TEST_STORE=sqlite BENCH_LARGE_MIB=8 BENCH_SMALL_OPS="$SMALL_OPS" BENCH_ROUNDS="$ROUNDS" \
  go test ./internal/blob/ -run '^$' -bench 'BlobVsAzurite' -benchtime 1x -count 1 -timeout 30m >"$OUT/blob" 2>&1 || { cat "$OUT/blob" >&2; exit 1; }
echo "==> Blob store reads per GET" >&2
go test ./internal/blob/ -run '^$' -bench SmallAuth -benchtime 1x -count 1 >"$OUT/reads" 2>&1 || { cat "$OUT/reads" >&2; exit 1; }

# num PATTERN: the number after PATTERN on the line read from stdin.
num() { sed -n "s/.*$1 \([0-9.]*\).*/\1/p" | head -1; }

{
  printf '\n%-44s' "ARM: identities in one group"
  IFS=, read -ra SIZES <<<"$ARM_SIZES"
  for n in "${SIZES[@]}"; do printf '%12s' "$n"; done; echo
  row() { # label, pattern before the number on "ARM scale n=N:" lines
    printf '%-44s' "$1"
    for n in "${SIZES[@]}"; do printf '%12s' "$(grep "ARM scale n=$n:" "$OUT/arm" | num "$2")"; done; echo
  }
  row "  first page of the list (ms)" "first page"
  row "  full paged walk (ms)" "walk"
  row "  GET one identity (ms)" "GET"
  row "  PUT one identity (ms)" "PUT"
  printf '%-44s' "  live Go heap over idle (B/identity)"
  for n in "${SIZES[@]}"; do printf '%12s' "$(grep "ARM scale n=$n:" "$OUT/arm" | sed -n 's/.*MB) = \([0-9]*\) B\/identity, RSS.*/\1/p')"; done; echo
  printf '%-44s' "  resident memory over idle (B/identity)"
  for n in "${SIZES[@]}"; do printf '%12s' "$(grep "ARM scale n=$n:" "$OUT/arm" | sed -n 's/.*RSS .* = \([0-9]*\) B\/identity, seeded.*/\1/p')"; done; echo

  printf '\n%-44s%12s%12s%12s%12s\n' "RBAC: assignments" 1k 10k 100k 1M
  rrow() { # label, kind, metric
    printf '%-44s' "$1"
    for s in 1k 10k 100k 1M; do
      printf '%12s' "$(grep "BenchmarkCheck/n=$s/$2-" "$OUT/rbac" | sed -n "s|.*[[:space:]]\([0-9.]*\) $3.*|\1|p" | head -1)"
    done; echo
  }
  rrow "  allowed check p50 (ns)" allowed p50-ns
  rrow "  allowed check p99 (ns)" allowed p99-ns
  rrow "  allowed via a group p99 (ns)" allowed-via-group p99-ns
  rrow "  denied check p50 (ns)" denied p50-ns
  rrow "  denied check p99 (ns)" denied p99-ns
  rrow "  denied check + its 403 text p99 (ns)" denied-with-reason p99-ns
  rrow "  index (B/assignment)" allowed index-B/assign
  rrow "  Load (ms)" allowed load-ms
  grep "RBAC restart" "$OUT/restart" | sed 's/^/  /'

  echo
  sed -n '/^Blob large transfers/,/^  load average/p' "$OUT/large" | grep -v '^  load average'
  up() { sed -n "s/^$1 *\([0-9.]*\) *\([0-9.]*\) *\([0-9.]*\)$/\\$2/p" "$OUT/blob" | head -1; }
  ks=$(up "amlid shared key" 3); bs=$(up "amlid bearer + RBAC" 3)
  frac() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b }'; }
  printf '\n%-44s%14s%14s%14s\n' "Blob: 4 KiB put+get pairs/s (best of $ROUNDS)" "account key" "bearer+RBAC" "key / bearer"
  printf '%-44s%14s%14s%14s\n' "" "$ks" "$bs" "$(frac "$ks" "$bs")"
  grep 'store reads for one' "$OUT/reads" | sort -u | sed 's/^/  /'
  echo
  echo "machine: $(nproc) CPUs, load average after the run $(cut -d' ' -f1-3 /proc/loadavg)"
}
