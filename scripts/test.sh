#!/usr/bin/env bash
# Installs everything amlid's tests need on a fresh Debian (bookworm) machine
# with Go, then runs every test. This is the README's test command and what
# CI runs (.ci/run).
#
#   ./scripts/test.sh            # install deps (as root) + vet + all tests
#   SKIP_INSTALL=1 ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(bubblewrap postgresql azure-cli python3-azure python3-azure-storage python3-msal python3-requests chromium python3-sklearn python3-joblib python3-numpy ca-certificates curl)

if [ "${SKIP_INSTALL:-}" != "1" ]; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing apt packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  echo "==> downloading Go modules"
  go mod download
fi

# The package's own PostgreSQL cluster may have been started by apt; the
# tests start throwaway servers of their own, so the system one is not needed.
echo "==> go vet"
go vet ./...
echo "==> go test (race detector on)"
go test -race -count=1 -timeout 25m ./... 2>&1 | tee /tmp/amlid-test.log
