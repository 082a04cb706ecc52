# Reads a job's run history as azure-ai-ml's jobs.stream does (discovery
# URL, …/runs/{job}/details, the log file it lists), through amlid's proxy,
# as the user in AZURE_USERNAME. Usage: run_history.py <group> <workspace> <job>
# Prints JSON: the details' status code, the log's, and a tampered log URL's.
import json
import os
import sys

import requests
from azure.identity import UsernamePasswordCredential

sub, group, ws, job = os.environ["AZURE_SUBSCRIPTION_ID"], sys.argv[1], sys.argv[2], sys.argv[3]
cred = UsernamePasswordCredential(os.environ["AZURE_CLIENT_ID"], os.environ["AZURE_USERNAME"], os.environ["AZURE_PASSWORD"],
                                  tenant_id=os.environ["AZURE_TENANT_ID"])
tok = cred.get_token("https://management.azure.com/.default").token
api = requests.get("https://eastus.api.azureml.ms/discovery").json()["api"]
r = requests.get(api + "/history/v1.0/subscriptions/%s/resourceGroups/%s/providers/Microsoft.MachineLearningServices/workspaces/%s/runs/%s/details"
                 % (sub, group, ws, job), headers={"Authorization": "Bearer " + tok})
out = {"details": r.status_code, "body": r.text[:400]}
if r.status_code == 200:
    url = r.json()["logFiles"]["user_logs/std_log.txt"]
    log = requests.get(url)
    out["log"], out["content"] = log.status_code, log.text
    out["tampered"] = requests.get(url[:-4] + ("0000" if not url.endswith("0000") else "1111")).status_code
print(json.dumps(out))
