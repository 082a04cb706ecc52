#!/usr/bin/env bash
# Times the seed walkthrough (../shared/seeds/002_*.txt) on this machine:
# create the online endpoint, grant its identity Storage Blob Data Reader,
# create the `blue` deployment (code and model uploaded to the workspace
# storage, the workspace registry created on this first need, the scoring
# process started with init() reading the blob twice), and invoke it.
# Azure takes 8-14 minutes for the deployment step alone; the target here is
# under 15 seconds for all of it.
#
#   ./scripts/bench-walkthrough.sh            # 3 runs
#   RUNS=5 ./scripts/bench-walkthrough.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -o "$work/amlid" ./cmd/amlid
export AMLID_CONFIG_DIR="$work/cli"
"$work/amlid" up --data-dir "$work/data" --port -1 --msi-port -1 --blob-port -1 --resource-port-base -1 >"$work/up.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$work/data/state.json" ] && break; sleep 0.1; done
eval "$("$work/amlid" env --data-dir "$work/data")"
a() { "$work/amlid" "$@" --only-show-errors; }

# The walkthrough's files, with the account URL pointed at amlid and the
# tiny sklearn model trained.
cp -r internal/e2e/testdata/ml/endpoints "$work/"
sed -i "s|<AMLID_BLOB_URL>|$AMLID_BLOB_URL|g" "$work/endpoints/online/model-1/onlinescoring/score_managedidentity.py"
mkdir -p "$work/endpoints/online/model-1/model"
/usr/bin/python3 -c '
import sys, numpy, joblib
from sklearn.linear_model import LinearRegression
X = numpy.arange(100).reshape(10, 10)
joblib.dump(LinearRegression().fit(X, X.sum(axis=1)), sys.argv[1])' "$work/endpoints/online/model-1/model/sklearn_regression_model.pkl"
mi="$work/endpoints/online/managed/managed-identities"

a group create -n bench-rg -l eastus >/dev/null
a configure --defaults group=bench-rg workspace=bench-ws
a ml workspace create -n bench-ws >/dev/null
storage_id=$(a storage account create --name benchwalk --location eastus --query id -o tsv)
a storage container create --account-name benchwalk --name hello >/dev/null
a storage blob upload --account-name benchwalk --container-name hello --name hello.txt --file "$mi/hello.txt" >/dev/null

printf '%-4s %10s %10s %10s %10s\n' run endpoint deployment invoke total
for i in $(seq "$RUNS"); do
  ep="bench-ep-$i"
  t0=$(date +%s.%N)
  a ml online-endpoint create --name "$ep" -f "$mi/1-sai-create-endpoint.yml" >/dev/null
  pid_ep=$(a ml online-endpoint show --name "$ep" --query "identity.principal_id" -o tsv)
  a role assignment create --assignee-object-id "$pid_ep" --assignee-principal-type ServicePrincipal --role "Storage Blob Data Reader" --scope "$storage_id" >/dev/null
  t1=$(date +%s.%N)
  a ml online-deployment create --endpoint-name "$ep" --all-traffic --name blue --file "$mi/2-sai-deployment.yml" \
    --set environment_variables.STORAGE_ACCOUNT_NAME=benchwalk environment_variables.STORAGE_CONTAINER_NAME=hello environment_variables.FILE_NAME=hello.txt >/dev/null
  t2=$(date +%s.%N)
  a ml online-endpoint invoke --name "$ep" --request-file "$work/endpoints/online/model-1/sample-request.json" >/dev/null
  t3=$(date +%s.%N)
  a ml online-deployment get-logs --endpoint-name "$ep" --name blue | grep -q "Blob contains: Hello" || { echo "run $i: init() did not read the blob" >&2; exit 1; }
  printf '%-4s %9.2fs %9.2fs %9.2fs %9.2fs\n' "$i" "$(awk "BEGIN{print $t1-$t0}")" "$(awk "BEGIN{print $t2-$t1}")" "$(awk "BEGIN{print $t3-$t2}")" "$(awk "BEGIN{print $t3-$t0}")"
  a ml online-endpoint delete --name "$ep" --yes
done
