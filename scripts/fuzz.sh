#!/usr/bin/env bash
# Runs every Go native fuzz target (func FuzzXxx in internal/**/*_test.go)
# for a set time each and reports executions and crashes.
#
#   FUZZTIME=10m    time per target (any `go test -fuzztime` value; default 10m)
#   FUZZ_WORKERS=1  parallel fuzzing workers per target (default: 1; the CI
#                   machine is shared)
#   FUZZ_MATCH=re   only targets whose "pkg/FuzzName" matches the regexp
#   FUZZ_MINIMIZE=10s  time spent minimizing each new interesting input
#                   (go's default is 60s, during which no executions are
#                   counted; targets with slow setups looked stalled)
#
# Plain `go test` already runs each target's seed corpus (and any crasher
# saved under testdata/fuzz/). A crash found here is written by Go to
# <pkg>/testdata/fuzz/<FuzzName>/<hash>; commit it with the fix so that the
# seed run keeps it fixed. Exit status: 1 if any target failed.
set -u
cd "$(dirname "$0")/.."
FUZZTIME="${FUZZTIME:-10m}"
WORKERS="${FUZZ_WORKERS:-1}"
MATCH="${FUZZ_MATCH:-.}"
MINIMIZE="${FUZZ_MINIMIZE:-10s}"
logdir="$(mktemp -d)"
fail=0
printf '%-28s %-22s %12s  %s\n' PACKAGE TARGET EXECS RESULT
while IFS=: read -r file name; do
	pkg="./$(dirname "$file")"
	echo "$pkg/$name" | grep -Eq -- "$MATCH" || continue
	log="$logdir/$(echo "$pkg-$name" | tr '/.' '__').log"
	go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZE" -parallel "$WORKERS" >"$log" 2>&1
	rc=$?
	execs="$(grep -Eo 'execs: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)"
	if [ $rc -eq 0 ]; then
		result=ok
	else
		fail=1
		crash="$(grep -Eo 'testdata/fuzz/[^ ]+' "$log" | head -1)"
		result="FAIL ${crash:-(see $log)}"
	fi
	printf '%-28s %-22s %12s  %s\n' "${pkg#./internal/}" "$name" "${execs:-?}" "$result"
done < <(grep -rHoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' internal | sed 's/func //' | sort)
echo "logs: $logdir"
exit $fail
