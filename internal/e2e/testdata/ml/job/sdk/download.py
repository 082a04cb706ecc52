# ml_client.jobs.download of a finished job through azure-ai-ml 1.4.0: the
# logs alone, one named output, and everything (all=True), each into its
# own folder. Usage: download.py <group> <workspace> <job> <dest>
# Prints {relative path: content} of every file downloaded, or the error.
import json
import os
import sys

from azure.ai.ml import MLClient
from azure.identity import DefaultAzureCredential

ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], sys.argv[1], sys.argv[2])
name, dest = sys.argv[3], sys.argv[4]
out = sys.argv[5] if len(sys.argv) > 5 else None
try:
    ml_client.jobs.download(name, download_path=os.path.join(dest, "logs"))
    if out:
        ml_client.jobs.download(name, download_path=os.path.join(dest, "one"), output_name=out)
    ml_client.jobs.download(name, download_path=os.path.join(dest, "all"), all=True)
except Exception as e:
    print(json.dumps({"error": str(e)}))
    sys.exit(0)
files = {}
for root, _, names in os.walk(dest):
    for f in names:
        p = os.path.join(root, f)
        files[os.path.relpath(p, dest)] = open(p).read()
print(json.dumps({"files": files}))
