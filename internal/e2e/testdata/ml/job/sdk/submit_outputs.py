# A command job with a named output that has no path, submitted through
# azure-ai-ml 1.4.0 and streamed. Usage: submit_outputs.py <group> <workspace> <code> <compute>
# Prints the job's name and status as JSON on the last line.
import json
import os
import sys

from azure.ai.ml import MLClient, Output, command
from azure.identity import DefaultAzureCredential

ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], sys.argv[1], sys.argv[2])
job = command(code=sys.argv[3], command="python make_outputs.py ${{outputs.result}} 42",
              outputs={"result": Output(type="uri_folder")},
              environment="AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest", compute=sys.argv[4])
job = ml_client.jobs.create_or_update(job)
ml_client.jobs.stream(job.name)
print(json.dumps({"name": job.name, "status": ml_client.jobs.get(job.name).status}))
