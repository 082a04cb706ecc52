# Seed 003's Python snippet ("Access data for training jobs on compute using
# user identity"), verbatim but for its placeholders, then jobs.stream.
# Usage: seed_job.py <resource-group> <workspace> <code-dir> <compute>
# Prints the job's name and final status as JSON on the last line.
import json
import os
import sys

from azure.ai.ml import MLClient
from azure.identity import DefaultAzureCredential

ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], sys.argv[1], sys.argv[2])

from azure.ai.ml import command
from azure.ai.ml.entities import Data  # the seed also imports UriReference, which azure-ai-ml 1.4.0 does not have (unused)
from azure.ai.ml import Input
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml import UserIdentityConfiguration

# Specify the data location
my_job_inputs = {
    "input_data": Input(type=AssetTypes.URI_FILE, path="azureml://datastores/mydata/paths/census.csv")
}

# Define the job
job = command(
    code=sys.argv[3],
    command="python read_census.py --input_data ${{inputs.input_data}}",
    inputs=my_job_inputs,
    environment="AzureML-sklearn-0.24-ubuntu18.04-py37-cpu:9",
    compute=sys.argv[4],
    identity= UserIdentityConfiguration() 
)
# submit the command
returned_job = ml_client.jobs.create_or_update(job)

failure = ""
try:
    ml_client.jobs.stream(returned_job.name)
except Exception as e:  # a failed job raises JobException after streaming
    failure = str(e)
sys.stdout.flush()
final = ml_client.jobs.get(returned_job.name)
print(json.dumps({"name": returned_job.name, "status": final.status, "failure": failure,
                  "identity": type(final.identity).__name__}))
