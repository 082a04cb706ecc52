#!/bin/sh
# Key Vault secrets through azsecrets against an in-process amlid: GetSecret
# (token check, RBAC, store read, AES-GCM open) and SetSecret on SQLite.
set -eu
cd "$(dirname "$0")/.."
go test -run '^$' -bench . -benchtime "${BENCHTIME:-3s}" ./internal/keyvault/ 2>&1 | grep -E '^(Benchmark|ok|FAIL)'
