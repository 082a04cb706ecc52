#!/usr/bin/env bash
# Jobs on this machine (issue 20): submit → Completed for a trivial job (one
# small input read as the compute's identity, one output), and 100 queued
# jobs on a 2-node cluster (throughput and scheduling overhead per job).
# Azure takes minutes to scale a cluster up for the first; target < 3 s.
#
#   ./scripts/bench-jobs.sh            # 5 single runs + 100 queued
#   RUNS=10 QUEUED=200 ./scripts/bench-jobs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"
QUEUED="${QUEUED:-100}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -o "$work/amlid" ./cmd/amlid
export AMLID_CONFIG_DIR="$work/cli"
"$work/amlid" up --data-dir "$work/data" --port -1 --msi-port -1 --blob-port -1 --resource-port-base -1 >"$work/up.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$work/data/state.json" ] && break; sleep 0.1; done
sleep 0.5
eval "$("$work/amlid" env --data-dir "$work/data")"
a() { "$work/amlid" "$@" --only-show-errors; }

a group create -n bench-rg -l eastus >/dev/null
a configure --defaults group=bench-rg workspace=bench-ws
a ml workspace create -n bench-ws >/dev/null
acct=$(a storage account create -n benchjobs -l eastus --query id -o tsv)
admin=$(a ad sp show --id "$AZURE_CLIENT_ID" --query id -o tsv)
a role assignment create --assignee-object-id "$admin" --assignee-principal-type ServicePrincipal --role "Storage Blob Data Contributor" --scope "$acct" >/dev/null
a storage container create --account-name benchjobs -n data --auth-mode login >/dev/null
echo "a,b" >"$work/in.csv"
a storage blob upload --account-name benchjobs -c data -n in.csv -f "$work/in.csv" --auth-mode login >/dev/null
printf 'name: benchdata\ntype: azure_blob\naccount_name: benchjobs\ncontainer_name: data\n' >"$work/ds.yml"
a ml datastore create -f "$work/ds.yml" >/dev/null
a ml compute create -n cpu-cluster --type amlcompute --identity-type system_assigned --min-instances 2 --max-instances 2 >/dev/null
cpid=$(a ml compute show -n cpu-cluster --query identity.principal_id -o tsv)
a role assignment create --assignee-object-id "$cpid" --assignee-principal-type ServicePrincipal --role "Storage Blob Data Reader" --scope "$acct" >/dev/null
cat >"$work/job.yml" <<'YAML'
command: cp ${{inputs.data}} ${{outputs.out}}/copy.csv
inputs:
  data:
    type: uri_file
    path: azureml://datastores/benchdata/paths/in.csv
outputs:
  out:
    type: uri_folder
compute: azureml:cpu-cluster
YAML

echo "==> submit → Completed, trivial job (one input read as the compute identity, one output), $RUNS runs"
for i in $(seq "$RUNS"); do
  s=$(date +%s.%N)
  a ml job create -f "$work/job.yml" -n "single-$i" --stream >/dev/null 2>&1
  e=$(date +%s.%N)
  printf '  run %d: %.2f s\n' "$i" "$(echo "$e - $s" | bc)"
done

echo "==> $QUEUED jobs queued at once on a 2-node cluster"
s=$(date +%s.%N)
for i in $(seq "$QUEUED"); do a ml job create -f "$work/job.yml" -n "q-$i" -o none; done
sub=$(date +%s.%N)
while :; do
  left=$(a ml job list --query "length([?status!='Completed' && status!='Failed' && status!='Canceled'])" -o tsv)
  [ "$left" = "0" ] && break
  sleep 0.2
done
e=$(date +%s.%N)
failed=$(a ml job list --query "length([?status=='Failed'])" -o tsv)
total=$(echo "$e - $s" | bc)
printf '  submitted in %.2f s; all done in %.2f s (%s failed): %.1f jobs/s, %.0f ms a job end to end\n' \
  "$(echo "$sub - $s" | bc)" "$total" "$failed" "$(echo "$QUEUED / $total" | bc -l)" "$(echo "$total * 1000 / $QUEUED" | bc -l)"
